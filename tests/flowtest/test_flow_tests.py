"""`workflowdev test`: flow tests pass and fail as written, say what differed, write JUnit, and
can be recorded from a real execution on a server (SQLite and PostgreSQL)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from tests.conftest import Api
from tests.engine.flows_helpers import cli
from tests.engine.flows_helpers import run

ORDERS = """
name: orders
inputs:
  - {name: customer, type: integer, required: true}
tasks:
  - name: fetch
    type: http.request
    properties: {url: "https://shop.example.test/customers/{{ inputs.customer }}/orders"}
  - name: each_order
    type: flow.foreach
    properties:
      items: "{{ outputs.fetch.body }}"
      tasks:
        - {name: label, type: util.echo, properties: {value: "order-{{ item.id }}"}}
  - name: notify
    type: notify.slack
    allow_failure: true
    properties: {webhook_url: "https://hooks.example.test/x", text: "synced {{ outputs.each_order.count }}"}
"""

TESTS = """
flow: ../flows/orders.yaml
tests:
  - name: two orders are labelled
    inputs: {customer: 7}
    mocks:
      fetch: {outputs: {status_code: 200, body: [{id: 1}, {id: 2}]}}
      notify: {error: "slack is down"}
    expect:
      status: SUCCESS
      tasks:
        each_order: {outputs: {count: 2}}
        label[1]: {outputs: {value: order-2}}
        notify: {that: "{{ status == 'FAILED' and 'slack' in error }}"}
  - name: a wrong expectation shows the difference
    inputs: {customer: 7}
    mocks:
      fetch: {outputs: {status_code: 200, body: [{id: 1}]}}
      notify: {outputs: {}}
    expect:
      tasks:
        each_order: {outputs: {count: 3}}
        label: {status: FAILED}
"""


def project(tmp_path: Path, tests: str = TESTS) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "orders.yaml").write_text(ORDERS)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "orders.test.yaml").write_text(tests)
    return tmp_path


async def test_tests_pass_fail_say_what_differed_and_write_junit(tmp_path: Path) -> None:
    root = project(tmp_path)
    code, out, err = await cli("test", "tests", "--junit", "results.xml", cwd=root)
    assert code == 1, (out, err)
    assert "✔ two orders are labelled" in out and "✘ a wrong expectation shows the difference" in out
    assert "fetch http.request mocked" in out and "label[1] util.echo" in out
    assert "each_order.outputs.count: expected 3, got 1" in out
    assert "label[0].status: expected FAILED, got SUCCESS" in out
    assert "1 passed, 1 failed" in out
    suite = ET.parse(root / "results.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert cases["two orders are labelled"] is None
    failure = cases["a wrong expectation shows the difference"]
    assert failure is not None and "expected 3, got 1" in str(failure.get("message"))


async def test_a_passing_file_exits_zero(tmp_path: Path) -> None:
    document = yaml.safe_load(TESTS)
    document["tests"] = document["tests"][:1]
    root = project(tmp_path, yaml.safe_dump(document))
    code, out, err = await cli("test", "tests/orders.test.yaml", cwd=root)
    assert code == 0, (out, err)
    assert "1 passed, 0 failed" in out


async def test_a_test_file_with_a_mistake_is_refused_naming_the_place(tmp_path: Path) -> None:
    root = project(tmp_path, TESTS.replace("    expect:\n      status: SUCCESS", "    expects:\n      status: SUCCESS"))
    code, out, _err = await cli("test", "tests", cwd=root)
    assert code == 1
    assert "at tests/0: Additional properties are not allowed ('expects' was unexpected)" in out
    (root / "tests" / "orders.test.yaml").write_text(TESTS.replace("notify: {error:", "nofity: {error:"))
    code, out, _err = await cli("test", "tests", cwd=root)
    assert code == 1 and "mocks: the flow has no task 'nofity'" in out


FETCHING = """
name: fetching
inputs:
  - {name: url, type: string, required: true}
tasks:
  - name: fetch
    type: http.request
    properties: {url: "{{ inputs.url }}"}
  - name: summary
    type: util.echo
    properties: {value: "answered {{ outputs.fetch.status_code }}"}
"""


async def test_a_recorded_execution_replays_as_a_test_and_shows_a_changed_flow(api: Api, tmp_path: Path) -> None:
    body = await run(api, FETCHING, {"url": f"{api.base_url}/healthz"})
    assert body["execution"]["status"] == "SUCCESS", body
    (tmp_path / "fetching.yaml").write_text(FETCHING)
    code, out, err = await cli(
        "test", "--record", body["execution"]["id"], "-o", "fetching.test.yaml", "--flow", "fetching.yaml",
        "--server", api.base_url, cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, (out, err)
    recorded = yaml.safe_load((tmp_path / "fetching.test.yaml").read_text())
    assert recorded["flow"] == "fetching.yaml"
    (test,) = recorded["tests"]
    assert test["mocks"]["fetch"]["outputs"]["status_code"] == 200, "the outside world's real answer"
    assert test["expect"]["tasks"]["summary"] == {"status": "SUCCESS", "outputs": {"value": "answered 200"}}
    code, out, err = await cli("test", "fetching.test.yaml", cwd=tmp_path)
    assert code == 0, (out, err)
    (tmp_path / "fetching.yaml").write_text(FETCHING.replace("answered {{", "got {{"))
    code, out, _err = await cli("test", "fetching.test.yaml", cwd=tmp_path)
    assert code == 1
    assert 'summary.outputs.value: expected "answered 200", got "got 200"' in out


async def test_a_flow_that_does_not_parse_is_named_not_a_traceback(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "flows" / "orders.yaml").write_text("name: orders\ntasks:\n  - {name: a, type: util.nope}\n")
    code, out, err = await cli("test", "tests", cwd=root)
    assert code == 1 and "Traceback" not in out + err
    assert "tests/orders.test.yaml" in out and "util.nope" in out and "1 files unusable" in out
