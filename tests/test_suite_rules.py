"""Rules the test suite keeps so that no test depends on how fast the machine is.

A test waits on what it needs (an element on the page, a script run finished, a server's
health endpoint, a thread ending); a time bound only guards against a hang, so it is
long and set in one place (``HANG_TIMEOUT_*`` in the support modules). Read with
:mod:`ast` from every file under ``tests/``:

* no fixed pause: ``time.sleep`` or Playwright's ``wait_for_timeout``;
* no short bound: a ``timeout=``/``default_timeout=`` under :data:`MIN_TIMEOUT_S`, read
  from a literal or a constant (milliseconds for Playwright's calls, seconds otherwise);
* Streamlit's AppTest is built with an explicit ``default_timeout`` (its own is 3 s);
* a browser page is opened only by ``browser_support.browser_page``, which sets the
  bound for every action and ``expect`` (Playwright's own are 30 s and 5 s).

:data:`ALLOWED` lists the exceptions, each with its reason.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: The shortest bound a test may set. Not a minute: AppTest runs bounded at 60 s and
#: browser waits at 5 s failed on a busy machine; a bound this long only stops a hang.
MIN_TIMEOUT_S = 300
#: Playwright's calls take milliseconds: ``expect(...).to_*`` and the page's methods.
PLAYWRIGHT_CALLS = frozenset({
    "click", "dblclick", "fill", "press", "type", "check", "uncheck", "hover", "tap",
    "select_option", "set_input_files", "goto", "reload", "go_back", "go_forward",
    "wait_for", "wait_for_selector", "wait_for_function", "wait_for_load_state",
    "wait_for_url", "wait_for_event", "expect_download", "expect_response",
    "expect_request", "expect_navigation", "expect_popup", "expect_event", "screenshot",
    "inner_text", "text_content", "get_attribute", "set_default_timeout",
    "set_default_navigation_timeout", "set_options", "launch", "new_page", "new_context",
})
APPTEST_BUILDERS = frozenset({"from_file", "from_string", "from_function"})
BROWSER_OPENERS = frozenset({"launch", "new_page", "new_context"})
BROWSER_SUPPORT = "e2e/browser_support.py"
SERVER_SUPPORT = "server_support.py"
#: (file under tests/, called name) -> why a short bound there does not make a test
#: depend on the machine's speed.
ALLOWED: dict[tuple[str, str], str] = {
    (BROWSER_SUPPORT, "wait"): (
        "Popen.wait: the pause between two health probes (the server is probed again, up "
        "to the hang guard), and after terminate() the wait before kill(); neither fails "
        "a test"),
    (SERVER_SUPPORT, "wait"): (
        "Popen.wait: the pause between two probes of a server a test started; the server "
        "is probed again, up to the hang guard, so it never fails a test"),
}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv}


@dataclass(frozen=True)
class Finding:
    """One broken rule at one place."""

    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"tests/{self.path}:{self.line}: {self.rule}"


def test_rules_hold_for_every_test_file() -> None:
    support = support_constants()
    findings = [f for path in sorted(TESTS.rglob("*.py")) for f in check_file(path, support)]
    assert not findings, "\n".join(map(str, findings))


def test_the_rules_catch_what_they_forbid() -> None:
    source = '''
import time
import app_support
from streamlit.testing.v1 import AppTest
from db_support import QUICK
SHORT = 5 * 1000
time.sleep(1)
page.wait_for_timeout(1000)
expect(x).to_be_visible(timeout=SHORT)
page.click(timeout=30_000)
AppTest.from_file("app.py")
AppTest.from_file("app.py", default_timeout=10)
at.run(timeout=59)
browser.new_page()
thread.join(timeout=QUICK)
AppTest.from_file("app.py", default_timeout=app_support.QUICK)
page.click(timeout=600_000)
AppTest.from_file("app.py", default_timeout=600)
thread.join(timeout=app_support.HANG)
'''
    support = {"db_support": {"QUICK": 5.0}, "app_support": {"QUICK": 5.0, "HANG": 600.0}}
    findings = check_source(source, "e2e/test_x.py", support)
    rules = [(f.line, f.rule.split(":")[0]) for f in findings]
    assert rules == [(7, "fixed pause"), (8, "fixed pause"), (9, "short timeout"),
                     (10, "short timeout"), (11, "AppTest without default_timeout"),
                     (12, "short timeout"), (13, "short timeout"),
                     (14, "browser opened outside browser_support"), (15, "short timeout"),
                     (16, "short timeout")]  # and nothing for the long bounds below


def support_constants() -> dict[str, dict[str, float]]:
    """The numeric module constants of each ``*_support`` module, by module name."""
    return {path.stem: _module_constants(ast.parse(path.read_text(encoding="utf-8")))
            for path in TESTS.rglob("*_support.py")}


def check_file(path: Path, support: dict[str, dict[str, float]]) -> list[Finding]:
    """Return every broken rule in the file at ``path`` (under ``tests/``)."""
    return check_source(path.read_text(encoding="utf-8"), path.relative_to(TESTS).as_posix(),
                        support)


def check_source(source: str, rel: str,
                 support: dict[str, dict[str, float]]) -> list[Finding]:
    """Return every broken rule in ``source``, a file at ``rel`` under ``tests/``;
    ``support`` holds the constants it may import from the support modules."""
    tree = ast.parse(source)
    constants = {**_imported_constants(tree, support), **_module_constants(tree)}
    constants.update({f"{module}.{name}": value for module, values in support.items()
                      for name, value in values.items()})
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            findings += [Finding(rel, node.lineno, rule)
                         for rule in _call_rules(node, rel, constants)]
    return sorted(findings, key=lambda f: f.line)


def _call_rules(call: ast.Call, rel: str, constants: dict[str, float]) -> list[str]:
    name = _called_name(call)
    rules = []
    if name in {"sleep", "wait_for_timeout"}:
        rules.append(f"fixed pause: {name}() waits a fixed time; wait on a condition")
    if name in BROWSER_OPENERS and rel != BROWSER_SUPPORT:
        rules.append(f"browser opened outside browser_support: {name}() skips its bounds; "
                     "use browser_support.browser_page")
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    if name in APPTEST_BUILDERS and "default_timeout" not in keywords:
        rules.append("AppTest without default_timeout: its own is 3 s; use "
                     "app_support.new_app")
    per_second = 1000 if name in PLAYWRIGHT_CALLS or name.startswith("to_") else 1
    for key in ("timeout", "default_timeout"):
        value = _number(keywords.get(key), constants)
        if (value is not None and value < MIN_TIMEOUT_S * per_second
                and (rel, name) not in ALLOWED):
            rules.append(f"short timeout: {name}({key}={value:g}) can fail on a busy "
                         "machine; use the support module's HANG_TIMEOUT")
    return rules


def _called_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return ""


def _imported_constants(tree: ast.Module,
                        support: dict[str, dict[str, float]]) -> dict[str, float]:
    return {alias.asname or alias.name: support[node.module][alias.name]
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module in support
            for alias in node.names if alias.name in support[node.module]}


def _module_constants(tree: ast.Module) -> dict[str, float]:
    constants: dict[str, float] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = _number(node.value, constants)
            for target in targets:
                if isinstance(target, ast.Name) and value is not None:
                    constants[target.id] = value
    return constants


def _number(node: ast.expr | None, constants: dict[str, float]) -> float | None:
    """The value of a numeric literal, module constant or arithmetic of them, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return constants.get(f"{node.value.id}.{node.attr}")  # support_module.NAME
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _number(node.left, constants), _number(node.right, constants)
        if left is not None and right is not None:
            return float(_OPS[type(node.op)](left, right))
    return None
