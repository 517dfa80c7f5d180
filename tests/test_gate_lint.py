"""Gate lint: sample and measurement rows are read only through the access gate.

A static check (stdlib ``ast``, no Django) over the project's Python files: outside an allow-list,
``Sample.objects`` / ``Measurement.objects`` (and their ``_default_manager`` / ``_base_manager``),
the ``.samples`` / ``.measurements`` related managers, prefetches of them, ``apps.get_model`` of
them and raw SQL on their tables are violations, unless the expression goes through the gate:

    visible_measurements(scope).filter(...)                allowed (the gate's own functions)
    visible_samples(scope, Sample.objects.filter(...))     allowed (a queryset handed to the gate)
    Measurement.objects.filter(...)                        violation
    survey.samples.count()                                 violation

Counting annotations by name (``Count("samples")``, used for the public sample counts of surveys)
are not flagged: they reveal counts, which survey pages show by design.

Two more rules of the house (docs/architecture.md, the map at the top):

- **Who may import whom**: ``baselines`` (the core) imports none of ``sharing``, ``maps``,
  ``portal``; ``sharing`` (the gate) neither ``maps`` nor ``portal``; ``maps`` not ``portal``;
  nothing imports ``portal`` (the URL map names it by string).
- **Audit on every data surface**: a function or class in ``portal/`` that reads rows through the
  gate also records the audit (``audit_access``), itself or through a base class of its module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "chemearth", "baselines", "sharing", "maps", "downloads", "dashboards", "health",
    "certificates", "portal",
)  # fmt: skip
SKIP_DIRS = {"migrations", "tests", "benchmarks", "__pycache__"}

# Files that may read or write sample and measurement rows directly, and why.
ALLOWED = {
    "sharing/access.py": "the gate itself",
    "baselines/ingest/write.py": "writes (ingestion)",
    "baselines/storage.py": "the storage layout: the writers' lock, partitions, deletes",
    "baselines/admin.py": "the admin, staff only (staff see everything)",
    "sharing/demo.py": "demo set-up, writes",
    "baselines/management/commands/ingest.py": "management command that only writes",
    "portal/management/commands/load_demo.py": "management command that only writes",
    "health/backup.py": "operators' backups: whole tables dumped, counted and checksummed",
}

MODELS = {"Sample", "Measurement"}
MANAGERS = {"objects", "_default_manager", "_base_manager"}
RELATED = {"samples", "measurements"}
GATE_FUNCTIONS = {"visible_samples", "visible_measurements", "aggregate_rows"}
TABLES = ("baselines_sample", "baselines_measurement")
# Methods that make a related manager read (or write) rows: ``x.samples.<method>(...)``.
QUERYSET_METHODS = {
    "all", "filter", "exclude", "get", "first", "last", "exists", "count", "values",
    "values_list", "aggregate", "annotate", "alias", "select_related", "prefetch_related",
    "order_by", "reverse", "distinct", "only", "defer", "iterator", "in_bulk", "latest",
    "earliest", "dates", "datetimes", "union", "intersection", "difference", "raw", "extra",
    "explain", "none", "using", "select_for_update", "contains", "get_queryset",
    "create", "get_or_create", "update_or_create", "bulk_create", "bulk_update", "update",
    "delete", "add", "remove", "clear", "set",
}  # fmt: skip


def project_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        root = REPO / package
        if not root.exists():
            continue
        for path in sorted(root.rglob("*.py")):
            parts = set(path.relative_to(REPO).parts[:-1])
            if parts & SKIP_DIRS or path.name.startswith("test_"):
                continue
            files.append(path)
    return files


class GateLint(ast.NodeVisitor):
    """Collects (line, message) for reads of samples/measurements that bypass the gate."""

    def __init__(self, source: str):
        self.tree = ast.parse(source)
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.aliases = set(MODELS)  # local names of the two models (``import ... as``)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom):
                for name in node.names:
                    if name.name in MODELS:
                        self.aliases.add(name.asname or name.name)
        self.violations: list[tuple[int, str]] = []

    # -- helpers --------------------------------------------------------------------------------

    def _is_model(self, node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in self.aliases) or (
            isinstance(node, ast.Attribute) and node.attr in MODELS
        )

    def _gated(self, node: ast.AST) -> bool:
        """True when the expression containing ``node`` is an argument of one of the gate's
        functions (the core's querysets know no policy: there is no ``.visible_to``)."""
        current = node
        while current in self.parents:
            parent = self.parents[current]
            if isinstance(parent, ast.Attribute) and parent.value is current:
                pass  # an attribute in the chain: keep climbing
            elif isinstance(parent, ast.Call) and parent.func is current:
                pass  # a call in the chain: keep climbing
            elif isinstance(parent, ast.Call) and current in (
                list(parent.args) + [k.value for k in parent.keywords]
            ):
                func = parent.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                return name in GATE_FUNCTIONS
            else:
                return False
            current = parent
        return False

    def _flag(self, node: ast.AST, message: str) -> None:
        self.violations.append((node.lineno, message))

    # -- visitors -------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in MANAGERS and self._is_model(node.value):
            if not self._gated(node):
                self._flag(node, f"{ast.unparse(node)} used outside the gate's functions")
        elif node.attr in RELATED:
            parent = self.parents.get(node)
            reads = (
                (
                    isinstance(parent, ast.Attribute)
                    and parent.value is node
                    and parent.attr in QUERYSET_METHODS
                )
                or isinstance(parent, (ast.For, ast.comprehension))
                and parent.iter is node
            )
            if reads and not self._gated(node):
                self._flag(
                    node, f"related manager {ast.unparse(node)} read outside the gate's functions"
                )
        elif (
            node.attr == "db_table"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "_meta"
            and self._is_model(node.value.value)
        ):
            self._flag(node, f"raw SQL on {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        strings = [a.value for a in node.args if isinstance(a, ast.Constant)]
        strings = [s for s in strings if isinstance(s, str)]
        if name in {"prefetch_related", "Prefetch"}:
            for text in strings:
                if (
                    text.split("__")[0] in RELATED
                    or "__samples" in text
                    or "__measurements" in text
                ):
                    self._flag(node, f"{name}({text!r}) loads rows without the gate")
        if name == "get_model" and any(s.split(".")[-1] in MODELS for s in strings):
            self._flag(node, f"{ast.unparse(node)}: the model behind the gate's back")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and any(t in node.value.lower() for t in TABLES):
            self._flag(node, "raw SQL on a sample/measurement table")
        self.generic_visit(node)


def lint_source(source: str) -> list[tuple[int, str]]:
    lint = GateLint(source)
    lint.visit(lint.tree)
    return sorted(set(lint.violations))


def lint_project() -> list[str]:
    found = []
    for path in project_files():
        relative = path.relative_to(REPO).as_posix()
        if relative in ALLOWED:
            continue
        for line, message in lint_source(path.read_text(encoding="utf-8")):
            found.append(f"{relative}:{line}: {message}")
    return found


# --- tests ---------------------------------------------------------------------------------------


def test_no_read_bypasses_the_access_gate():
    violations = lint_project()
    assert not violations, (
        "sample/measurement rows read outside sharing/access.py (go through "
        "visible_samples/visible_measurements/aggregate_rows, or add the file to ALLOWED with a "
        "reason if it only "
        "writes or is staff-only):\n  " + "\n  ".join(violations)
    )


def test_allow_list_names_existing_files():
    missing = [f for f in ALLOWED if not (REPO / f).exists()]
    assert not missing, f"ALLOWED names files that no longer exist: {missing}"


def test_the_lint_sees_the_project():
    """Positive control: the files that call the gate are among those checked."""
    checked = {p.relative_to(REPO).as_posix() for p in project_files()}
    assert {"portal/api.py", "portal/pages.py", "portal/viewer_api.py"} <= checked, sorted(checked)


BAD = """
from baselines.models import Measurement, Sample as S
from django.apps import apps
def view(request, survey, country):
    a = Measurement.objects.filter(element__symbol="Ni")
    b = S.objects.all()
    c = survey.samples.count()
    d = [m for m in country.measurements.all()]
    e = Survey.objects.prefetch_related("samples__measurements")
    f = apps.get_model("baselines", "Measurement")
    g = cursor.execute("SELECT value FROM baselines_measurement")
    h = Measurement._default_manager.get(pk=1)
    i = Sample._meta.db_table
    for s in survey.samples.all():
        pass
    j = Measurement.objects.visible_to(scope)
"""

GOOD = """
from baselines.models import Measurement, Sample
from sharing.access import visible_measurements, visible_samples
def view(request, survey, scope):
    a = visible_measurements(scope).filter(element__symbol="Ni")
    b = visible_samples(scope, Sample.objects.select_related("survey")).count()
    c = visible_samples(scope, survey.samples.all()).count()
    d = visible_samples(scope, Sample.objects.filter(survey=survey))
    e = Survey.objects.annotate(n=Count("samples"))
    f = report.samples_added
    g = figures.samples
"""


@pytest.mark.parametrize(
    "line",
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16],
)
def test_the_lint_flags_bypasses(line):
    """Positive control: each bypass in BAD is flagged at its line."""
    assert line in {ln for ln, _ in lint_source(BAD)}, lint_source(BAD)


def test_the_lint_allows_the_gate():
    assert lint_source(GOOD) == []


# --- who may import whom -------------------------------------------------------------------------

# app -> apps it must not import (docs/architecture.md).
FORBIDDEN_IMPORTS = {
    "baselines": {"sharing", "maps", "downloads", "health", "certificates", "portal"},
    "sharing": {"maps", "downloads", "health", "certificates", "portal"},
    "maps": {"downloads", "certificates", "portal"},
    # downloads may import maps: a GeoTIFF package is a map layer's COG, reused or rendered by
    # maps' own code (maps imports only baselines and sharing, so no circle).
    "downloads": {"certificates", "portal"},
    "dashboards": {"maps", "downloads", "certificates", "portal"},
    # health checks the services; like any new capability it may use only the core and the gate.
    "health": {"maps", "downloads", "dashboards", "certificates", "portal"},
    # certificates rate with the dashboards' standards and judging (and their zone validation);
    # dashboards know nothing of certificates.
    "certificates": {"maps", "downloads", "health", "portal"},
    "chemearth": {"portal"},
}


def imported_apps(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def import_violations(package: str, source: str) -> list[tuple[int, str]]:
    forbidden = FORBIDDEN_IMPORTS.get(package, set())
    return [(line, app) for line, app in imported_apps(source) if app in forbidden]


def test_apps_import_only_what_the_map_allows():
    found = []
    for path in project_files():
        relative = path.relative_to(REPO)
        package = relative.parts[0]
        for line, app in import_violations(package, path.read_text(encoding="utf-8")):
            found.append(f"{relative.as_posix()}:{line}: {package} imports {app}")
    assert not found, "imports against docs/architecture.md's map:\n  " + "\n  ".join(found)


def test_the_import_rule_flags_a_core_module_importing_the_gate():
    """Positive control: lazy and aliased imports are seen too."""
    source = "import sharing.access as a\ndef f():\n    from maps import layers\n"
    assert import_violations("baselines", source) == [(1, "sharing"), (3, "maps")]
    assert import_violations("sharing", source) == [(3, "maps")]
    assert import_violations("portal", source) == []
    assert import_violations("health", "from portal import health\n") == [(1, "portal")]


# --- audit on every data surface ------------------------------------------------------------------

AUDIT_CALLS = {"audit_access"}
# (``within_bbox`` only narrows rows one of these produced, so it is not a source itself.)
GATE_READS = GATE_FUNCTIONS | {"visible_exact_measurements"}
# Surfaces that read through the gate but return only counts the viewer may see anyway.
AUDIT_EXEMPT = {
    ("portal/pages.py", "survey_detail"): "the number of the survey's samples the viewer sees",
}


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def unaudited_reads(source: str, relative: str = "") -> list[tuple[int, str]]:
    """Top-level functions and classes that call the gate and never ``audit_access`` (a class
    may inherit the audit from a base class defined in the same module)."""
    tree = ast.parse(source)
    auditing = {
        n.name for n in tree.body if isinstance(n, ast.ClassDef) and _calls(n) & AUDIT_CALLS
    }
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        calls = _calls(node)
        if not calls & GATE_READS or calls & AUDIT_CALLS:
            continue
        bases = {getattr(b, "id", getattr(b, "attr", "")) for b in getattr(node, "bases", [])}
        if bases & auditing or (relative, node.name) in AUDIT_EXEMPT:
            continue
        found.append((node.lineno, node.name))
    return found


def test_every_portal_surface_that_reads_rows_records_the_audit():
    found = []
    for path in project_files():
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith("portal/"):
            found += [
                f"{relative}:{line}: {name} reads through the gate without audit_access"
                for line, name in unaudited_reads(path.read_text(encoding="utf-8"), relative)
            ]
    assert not found, "\n  ".join(found)


def test_the_audit_rule_flags_a_view_that_forgets_it():
    """Positive control: a view reading rows without the audit is flagged; one that audits, or
    inherits a base that does, is not."""
    source = """
class Audited:
    def list(self, request):
        audit_access(request, scope, "x")
class Inherits(Audited):
    def get_queryset(self):
        return visible_samples(scope)
def forgets(request):
    return visible_measurements(scope).count()
def remembers(request):
    rows = aggregate_rows(scope, scale_m=1, element=1, medium=1)
    audit_access(request, scope, "y")
"""
    assert unaudited_reads(source) == [(8, "forgets")]
