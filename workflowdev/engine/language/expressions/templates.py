"""From the author's text to what runs: parsed once, checked, guarded and cached by the Renderer.

A template that is one `{{ … }}` is compiled to store its value instead of printing it, which is
how a property keeps its native type. What a template will need (credentials, kv keys given as
constants) is read off the syntax tree here, so it can be fetched before the first pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Template
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from workflowdev.engine.language.expressions.credentials import CREDENTIALS_NAME
from workflowdev.engine.language.expressions.credentials import CredentialRef
from workflowdev.engine.language.expressions.credentials import CredentialText
from workflowdev.engine.language.expressions.credentials import split_credentials
from workflowdev.engine.language.expressions.errors import ExpressionError
from workflowdev.engine.language.expressions.errors import Refused
from workflowdev.engine.language.expressions.errors import quoted
from workflowdev.engine.language.expressions.sandbox import InsertGuards
from workflowdev.engine.language.expressions.sandbox import Sandbox


def is_template(text: str) -> bool:
    """True when the text holds an expression, a statement or a credential reference."""
    return "{{" in text or "{%" in text or "${" in text


RESULT = "result"
_UNSUPPORTED: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Block: "block",
}


@dataclass(frozen=True, slots=True)
class Compiled:
    template: Template
    native: bool
    reads_data_only: bool
    """A lone expression that only looks a value up: its result is scope data, not checked."""
    credentials: tuple[str, ...]
    kv_reads: tuple[tuple[str, str | None], ...]


def _check_supported(ast: nodes.Template) -> None:
    for node in ast.find_all(tuple(_UNSUPPORTED)):
        raise Refused(
            f"{{% {_UNSUPPORTED[type(node)]} %}} is not available: a property is one template, "
            "with nothing to include, import or extend"
        )
    for name in ast.find_all(nodes.Name):
        if name.name == "self":
            raise Refused("'self' is not available in expressions")


def _lone_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is one `{{ … }}` and whitespace, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    significant = [
        node
        for node in ast.body[0].nodes
        if not (isinstance(node, nodes.TemplateData) and not node.data.strip())
    ]
    if len(significant) == 1 and not isinstance(significant[0], nodes.TemplateData):
        return significant[0]
    return None


def _reads_data_only(expression: nodes.Expr) -> bool:
    while isinstance(expression, (nodes.Getattr, nodes.Getitem)):
        if isinstance(expression, nodes.Getitem) and not isinstance(expression.arg, nodes.Const):
            return False
        expression = expression.node
    return isinstance(expression, nodes.Name)


def _credential_names(ast: nodes.Template) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            node.arg.value
            for node in ast.find_all(nodes.Getitem)
            if isinstance(node.node, nodes.Name) and node.node.name == CREDENTIALS_NAME
        )
    )


def _constant_kv_reads(ast: nodes.Template) -> tuple[tuple[str, str | None], ...]:
    """kv() calls whose arguments are constants: read before the first pass."""
    reads: list[tuple[str, str | None]] = []
    for call in ast.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name == "kv"):
            continue
        if call.kwargs or call.dyn_args or call.dyn_kwargs or not 1 <= len(call.args) <= 2:
            continue
        if not all(isinstance(arg, nodes.Const) for arg in call.args):
            continue
        key, namespace = call.args[0].value, call.args[1].value if len(call.args) == 2 else None
        if isinstance(key, str) and (namespace is None or isinstance(namespace, str)):
            reads.append((key, namespace))
    return tuple(dict.fromkeys(reads))


def compile_template(environment: Sandbox, source: str) -> Compiled | CredentialText:
    """The runnable form of one author text; ExpressionError when it cannot be one."""
    if "{{" not in source and "{%" not in source:
        parts = tuple(split_credentials(source))
        names = tuple(dict.fromkeys(p.name for p in parts if isinstance(p, CredentialRef)))
        return CredentialText(parts, names)
    try:
        ast = environment.parse(source)
        _check_supported(ast)
        credentials, kv_reads = _credential_names(ast), _constant_kv_reads(ast)
        expression = _lone_expression(ast)
        if expression is not None:
            store = nodes.Assign(nodes.Name(RESULT, "store"), expression, lineno=1)
            ast = nodes.Template([store], lineno=1)
        ast = InsertGuards().visit(ast)
        ast.set_environment(environment)
        template = environment.from_string(ast)
    except TemplateSyntaxError as error:
        raise ExpressionError(
            f"invalid expression {quoted(source)}: {error.message} (line {error.lineno})"
        ) from None
    except Refused as error:
        raise ExpressionError(f"invalid expression {quoted(source)}: {error}") from None
    except (RecursionError, MemoryError, SyntaxError):
        raise ExpressionError(
            f"invalid expression {quoted(source)}: it is nested too deeply"
        ) from None
    return Compiled(
        template=template,
        native=expression is not None,
        reads_data_only=expression is not None and _reads_data_only(expression),
        credentials=credentials,
        kv_reads=kv_reads,
    )
