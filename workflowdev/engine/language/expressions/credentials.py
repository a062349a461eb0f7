"""`${NAME}` in the author's text: found while lexing, so a reference arriving in data never is.

Text without `{{`/`{%` needs no Jinja at all: `CredentialText` fills its references directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2.exceptions import TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.lexer import Token
from jinja2.lexer import TokenStream

_CREDENTIAL = re.compile(r"\$(\$?)\{([A-Z][A-Z0-9_]*)\}")
CREDENTIALS_NAME = "_wd_credentials"
"""The template variable holding resolved credentials; authors cannot write this name."""


@dataclass(frozen=True, slots=True)
class CredentialRef:
    name: str


def split_credentials(text: str) -> list[str | CredentialRef]:
    """Cut author text into literal pieces and credential references (`$${NAME}` is literal)."""
    parts: list[str | CredentialRef] = []
    literal: list[str] = []
    position = 0
    for match in _CREDENTIAL.finditer(text):
        literal.append(text[position : match.start()])
        if match.group(1):
            literal.append(match.group(0)[1:])
        else:
            parts.append("".join(literal))
            literal = []
            parts.append(CredentialRef(match.group(2)))
        position = match.end()
    literal.append(text[position:])
    parts.append("".join(literal))
    return [part for part in parts if part != ""]


class CredentialTokens(Extension):
    """Turns `${NAME}` in template data into `{{ _wd_credentials['NAME'] }}` while lexing.

    Working on the author's token stream is what guarantees that a `${…}` arriving in data is
    never substituted: data only exists once the template runs, long after this.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        for token in stream:
            if token.type == "name" and token.value == CREDENTIALS_NAME:
                raise TemplateSyntaxError(f"{CREDENTIALS_NAME} is a reserved name", token.lineno)
            if token.type != "data" or "${" not in token.value:
                yield token
                continue
            for part in split_credentials(token.value):
                if isinstance(part, str):
                    yield Token(token.lineno, "data", part)
                    continue
                yield Token(token.lineno, "variable_begin", "{{")
                yield Token(token.lineno, "name", CREDENTIALS_NAME)
                yield Token(token.lineno, "lbracket", "[")
                yield Token(token.lineno, "string", part.name)
                yield Token(token.lineno, "rbracket", "]")
                yield Token(token.lineno, "variable_end", "}}")


@dataclass(frozen=True, slots=True)
class CredentialText:
    """Author text with no `{{`/`{%`: only `${NAME}` references to fill in, no Jinja involved."""

    parts: tuple[str | CredentialRef, ...]
    credentials: tuple[str, ...]

    def fill(self, secrets: Mapping[str, str]) -> str:
        return "".join(p if isinstance(p, str) else secrets[p.name] for p in self.parts)
