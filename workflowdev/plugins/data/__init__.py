"""data: query, reshape, parse, check and format JSON-like data inside a flow, with no code.

The flow has already rendered every property once; what these tasks receive is data and it is
never rendered again. Queries, conditions and keys are JMESPath (https://jmespath.org), a
language with no side effects that sees only the value it is given, and data.template fills
`$name` placeholders and nothing else. The text parsers bound the size and nesting of what they
read, because that text usually comes from outside (a download, a webhook, a file). Every task
does its work in a worker thread, so a large document does not hold up the server; a cancelled
task stops waiting at once and the thread finishes its bounded piece of work in the background.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.data.checks import Template
from workflowdev.plugins.data.checks import Validate
from workflowdev.plugins.data.formats import CsvFormat
from workflowdev.plugins.data.formats import CsvParse
from workflowdev.plugins.data.formats import JsonParse
from workflowdev.plugins.data.formats import YamlParse
from workflowdev.plugins.data.grouping import Aggregate
from workflowdev.plugins.data.grouping import GroupBy
from workflowdev.plugins.data.queries import Filter
from workflowdev.plugins.data.queries import Query
from workflowdev.plugins.data.queries import Sort
from workflowdev.plugins.data.queries import Transform

__all__ = [
    "PLUGINS",
    "Aggregate",
    "CsvFormat",
    "CsvParse",
    "Filter",
    "GroupBy",
    "JsonParse",
    "Query",
    "Sort",
    "Template",
    "Transform",
    "Validate",
    "YamlParse",
]

PLUGINS: Final[list[type[Plugin]]] = [
    Query,
    Transform,
    Filter,
    Sort,
    GroupBy,
    Aggregate,
    CsvParse,
    CsvFormat,
    JsonParse,
    YamlParse,
    Validate,
    Template,
]
"""data.*: JMESPath queries, list operations, CSV/JSON/YAML text, JSON Schema checks, templates."""
