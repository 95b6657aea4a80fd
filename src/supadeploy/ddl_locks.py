"""Which tables each migration statement locks, in which mode, whether it rewrites or scans them, and the risk.

The lock level of each form follows PostgreSQL 15's documentation (explicit-locking and ALTER TABLE), and the
test suite holds every classified sample to what the server really does (pg_locks, relfilenode). A form the
classifier does not know, or whose effect depends on something it cannot see (a function's volatility, the
session's TimeZone, CASCADE), is reported as unknown and ranks above high: never guessed as safe.

Risk = lock x effect x size. Sizes come from the target's catalog statistics (table_sizes.read_tables); a
table created earlier in the same migration set is new, hence empty. Thresholds: SMALL_ROWS, SMALL_BYTES,
LARGE_ROWS, LARGE_BYTES below.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pglast
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, DropBehavior, ObjectType

from supadeploy.lint import split_statements
from supadeploy.migrations import migration_sql
from supadeploy.table_sizes import ColumnType, Constraint, Table, TargetTables

# Size classes. Small: below both; large: at or above either; medium: between. Unknown sizes count as large.
SMALL_ROWS = 10_000
SMALL_BYTES = 16 * 1024**2
LARGE_ROWS = 1_000_000
LARGE_BYTES = 1024**3
DEFAULT_SCHEMA = "public"


class LockMode(enum.IntEnum):
    """PostgreSQL's table lock modes, weakest first (the numbers are PostgreSQL's own, as LOCK TABLE uses)."""

    ACCESS_SHARE = 1
    ROW_SHARE = 2
    ROW_EXCLUSIVE = 3
    SHARE_UPDATE_EXCLUSIVE = 4
    SHARE = 5
    SHARE_ROW_EXCLUSIVE = 6
    EXCLUSIVE = 7
    ACCESS_EXCLUSIVE = 8

    @property
    def label(self) -> str:
        """As the documentation writes it: ACCESS EXCLUSIVE."""
        return self.name.replace("_", " ")

    @property
    def pg_locks_mode(self) -> str:
        """As pg_locks.mode writes it: AccessExclusiveLock."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "Lock"

    @property
    def blocks(self) -> str:
        """What clients of the table wait for while it is held."""
        if self is LockMode.ACCESS_EXCLUSIVE:
            return "reads and writes"
        if self >= LockMode.SHARE:
            return "writes"
        return "nothing clients do (only DDL, VACUUM and other migrations)"


class Effect(enum.Enum):
    """What the statement does to the table's rows while it holds the lock."""

    NONE = "none"  # catalog only: the lock is held for an instant
    SCAN = "scan"  # reads every row (validation, index build) or touches rows (DML)
    REWRITE = "rewrite"  # writes a new copy of the table (new relfilenode) and rebuilds its indexes
    UNKNOWN = "unknown"  # depends on something the classifier cannot see


class Risk(enum.IntEnum):
    """How much a statement can hurt the running application. UNKNOWN ranks highest: never guessed as safe."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    UNKNOWN = 4

    @property
    def label(self) -> str:
        """Lower case, for reports."""
        return self.name.lower()


@dataclass(frozen=True)
class Size:
    """A table's size as the plan knows it: estimated rows and exact bytes, or new in this migration set."""

    rows: int | None
    bytes: int | None
    new: bool = False

    @property
    def size_class(self) -> str:
        """new, empty, small, medium, large or unknown (see the thresholds at the top of the module)."""
        if self.new:
            return "new"
        if self.rows is None and self.bytes is None:
            return "unknown"
        rows, size = self.rows, self.bytes or 0
        if rows == 0 and size < SMALL_BYTES:
            return "empty"
        if (rows or 0) >= LARGE_ROWS or size >= LARGE_BYTES:
            return "large"
        if (rows is None or rows < SMALL_ROWS) and size < SMALL_BYTES:
            return "small"
        return "medium"


UNKNOWN_SIZE = Size(None, None)
NEW_TABLE = Size(0, 0, new=True)


@dataclass(frozen=True)
class TableLock:
    """One lock a statement takes: on what, in which mode, with what effect, and why."""

    relation: str
    mode: LockMode
    effect: Effect
    why: str
    size: Size = UNKNOWN_SIZE
    destructive: bool = False

    @property
    def risk(self) -> Risk:
        """Lock x effect x size."""
        return assess(self.mode, self.effect, self.size, destructive=self.destructive)


@dataclass(frozen=True)
class StatementLocks:
    """One statement of a migration file and the locks it takes."""

    file: str
    line: int
    sql: str
    form: str
    locks: tuple[TableLock, ...] = ()
    unknowns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        """False when part of what the statement does could not be classified."""
        return not self.unknowns

    @property
    def effect(self) -> Effect:
        """The strongest effect over its locks (unknown when something was not classified)."""
        if self.unknowns:
            return Effect.UNKNOWN
        return _strongest(lock.effect for lock in self.locks)

    @property
    def risk(self) -> Risk:
        """The highest risk over its locks; unknown when something was not classified."""
        if self.unknowns:
            return Risk.UNKNOWN
        return max((lock.risk for lock in self.locks), default=Risk.NONE)


@dataclass(frozen=True)
class FileLocks:
    """One migration file's statements, or why it could not be read."""

    file: str
    statements: tuple[StatementLocks, ...] = ()
    error: str | None = None

    @property
    def risk(self) -> Risk:
        """The highest risk of its statements (unknown when the file does not parse)."""
        if self.error:
            return Risk.UNKNOWN
        return max((s.risk for s in self.statements), default=Risk.NONE)


def assess(mode: LockMode, effect: Effect, size: Size, *, destructive: bool = False) -> Risk:
    """The risk matrix: how long the lock is held (effect x size) against what it blocks (mode)."""
    if effect is Effect.UNKNOWN:
        return Risk.UNKNOWN
    klass = size.size_class
    if klass == "new":
        return Risk.NONE
    if klass == "unknown":
        klass = "large"
    if destructive and klass != "empty":
        return Risk.HIGH
    by_size = {"empty": 0, "small": 0, "medium": 1, "large": 2}[klass]
    if mode < LockMode.SHARE:
        # Clients are not blocked; a long scan or mass DML still holds row locks and bloats.
        if effect is Effect.NONE:
            return Risk.NONE
        return (Risk.LOW, Risk.LOW, Risk.MEDIUM)[by_size] if mode == LockMode.ROW_EXCLUSIVE else Risk.LOW
    if effect is Effect.NONE:
        return Risk.LOW  # held for an instant; the push's lock_timeout keeps it from queueing traffic
    if effect is Effect.SCAN:
        return (Risk.LOW, Risk.MEDIUM, Risk.HIGH)[by_size]
    return (Risk.LOW, Risk.HIGH, Risk.HIGH)[by_size]


def _strongest(effects: Iterable[Effect]) -> Effect:
    found = set(effects)
    for effect in (Effect.REWRITE, Effect.UNKNOWN, Effect.SCAN):
        if effect in found:
            return effect
    return Effect.NONE


# --- the working catalog: the target's tables, updated statement by statement -------------------------


class _Catalog:
    """The target's tables as they stand before each statement of the migration set."""

    def __init__(self, target: TargetTables) -> None:
        self.tables: dict[str, Table] = dict(target.tables)
        self.new: set[str] = set()
        self.domains: set[str] = set(target.constrained_domains)

    def size(self, relation: str) -> Size:
        """The table's size; for an index, its table's (an index lock holds up the table's queries)."""
        owner = relation if relation in self.tables or relation in self.new else self.table_of_index(relation)
        if owner is None:
            return UNKNOWN_SIZE
        if owner in self.new:
            return NEW_TABLE
        table = self.tables[owner]
        return Size(table.rows, table.bytes)

    def table_of_index(self, index: str) -> str | None:
        schema, _, name = index.partition(".")
        for qualified, table in self.tables.items():
            if table.schema == schema and name in table.indexes:
                return qualified
        return None

    def create(self, relation: str, kind: str, columns: dict[str, ColumnType] | None = None) -> None:
        schema, _, name = relation.partition(".")
        self.tables[relation] = Table(schema, name, kind, 0, 0, columns or {})
        self.new.add(relation)

    def update(self, relation: str, **changes: Any) -> None:
        if relation in self.tables:
            self.tables[relation] = replace(self.tables[relation], **changes)

    def move(self, old: str, new: str) -> None:
        if old in self.tables:
            schema, _, name = new.partition(".")
            self.tables[new] = replace(self.tables.pop(old), schema=schema, name=name)
        if old in self.new:
            self.new.discard(old)
            self.new.add(new)

    def drop(self, relation: str) -> None:
        self.tables.pop(relation, None)
        self.new.discard(relation)


# --- names and expressions -----------------------------------------------------------------------------


def _qualify(parts: Sequence[str]) -> str:
    return ".".join(parts) if len(parts) > 1 else f"{DEFAULT_SCHEMA}.{parts[0]}"


def _rangevar(relation: ast.RangeVar) -> str:
    return f"{relation.schemaname or DEFAULT_SCHEMA}.{relation.relname}"


def _strings(nodes: Iterable[Any] | None) -> list[str]:
    return [n.sval or "" for n in nodes or () if isinstance(n, ast.String)]


def _column_type(type_name: ast.TypeName) -> ColumnType:
    names = _strings(type_name.names)
    name = names[-1] if names else "?"
    mods = tuple(
        m.val.ival for m in type_name.typmods or () if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer)
    )
    return ColumnType(name + ("[]" if type_name.arrayBounds else ""), mods)


def _type_qualified(type_name: ast.TypeName) -> str:
    return _qualify(_strings(type_name.names))


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, tuple):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, ast.Node):
        yield node
        for name in node:
            yield from _walk(getattr(node, name))


# Functions whose volatility decides whether ADD COLUMN ... DEFAULT rewrites the table.
VOLATILE_FUNCTIONS = frozenset(
    {
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "random",
        "clock_timestamp",
        "timeofday",
        "nextval",
        "gen_random_bytes",
        "txid_current",
    }
)
NON_VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "statement_timestamp",
        "transaction_timestamp",
        "current_setting",
        "lower",
        "upper",
        "to_jsonb",
        "jsonb_build_object",
        "jsonb_build_array",
        "json_build_object",
        "array_fill",
        "make_interval",
        "to_timestamp",
        "timezone",
        "length",
        "coalesce",
    }
)
# Calls a bare SELECT may make without doing anything to tables.
HARMLESS_CALLS = frozenset({"set_config", "current_setting", "now", "to_regclass", "pg_notify", "count"})
SERIAL_TYPES = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})


def _volatility(expression: Any) -> tuple[str, str]:
    """('volatile' | 'unknown' | 'stable', the function that decided it)."""
    unknown = ""
    for node in _walk(expression):
        if isinstance(node, ast.FuncCall):
            name = _strings(node.funcname)[-1]
            if name in VOLATILE_FUNCTIONS:
                return "volatile", name
            if name not in NON_VOLATILE_FUNCTIONS:
                unknown = unknown or name
        elif isinstance(node, ast.SubLink):
            unknown = unknown or "a subquery"
    return ("unknown", unknown) if unknown else ("stable", "")


def _calls(node: Any) -> list[str]:
    return sorted({_strings(n.funcname)[-1] for n in _walk(node) if isinstance(n, ast.FuncCall)})


# --- type changes ------------------------------------------------------------------------------------

_LENGTH_TYPES = frozenset({"varchar", "varbit"})
_PRECISION_TYPES = frozenset({"timestamp", "timestamptz"})


def _type_change(old: ColumnType | None, new: ColumnType, *, using: bool) -> tuple[Effect, str]:
    """Whether ALTER COLUMN ... TYPE rewrites: not when the change is binary-coercible (PostgreSQL 15)."""
    if old is None:
        return Effect.UNKNOWN, "the column's current type is not known"
    shown = f"{_show(old)} to {_show(new)}"
    if using:
        return Effect.REWRITE, f"{shown} with USING: every row is recomputed"
    if old == new:
        return Effect.NONE, f"{shown}: the same type"
    no_rewrite = (
        (old.name in ("varchar", "text") and new.name == "text")
        or (old.name == "text" and new.name == "varchar" and not new.modifiers)
        or (
            old.name == new.name
            and old.name in _LENGTH_TYPES | _PRECISION_TYPES
            and old.modifiers
            and (not new.modifiers or new.modifiers[0] >= old.modifiers[0])
        )
        or (
            old.name == new.name == "numeric"
            and old.modifiers
            and (
                not new.modifiers
                or (
                    len(new.modifiers) == len(old.modifiers) == 2
                    and new.modifiers[1] == old.modifiers[1]
                    and new.modifiers[0] >= old.modifiers[0]
                )
            )
        )
        or (old.name == "cidr" and new.name == "inet")
    )
    if no_rewrite:
        return Effect.NONE, f"{shown} is binary-coercible: no rewrite"
    if old.name == "timestamp" and new.name == "timestamptz":
        return Effect.UNKNOWN, f"{shown} rewrites the table unless the session TimeZone is UTC"
    return Effect.REWRITE, f"{shown} is not binary-coercible: the table is rewritten"


def _show(column: ColumnType) -> str:
    mods = f"({','.join(map(str, column.modifiers))})" if column.modifiers else ""
    return column.name + mods


# --- the classifier ----------------------------------------------------------------------------------

# Storage parameters that ALTER TABLE ... SET (...) changes under SHARE UPDATE EXCLUSIVE; any other needs
# ACCESS EXCLUSIVE.
_LIGHT_OPTIONS = frozenset(
    {
        "fillfactor",
        "toast_tuple_target",
        "parallel_workers",
        "vacuum_index_cleanup",
        "vacuum_truncate",
        "log_autovacuum_min_duration",
    }
)
_RELATION_OBJECTS = {
    ObjectType.OBJECT_TABLE: "table",
    ObjectType.OBJECT_FOREIGN_TABLE: "foreign table",
    ObjectType.OBJECT_VIEW: "view",
    ObjectType.OBJECT_MATVIEW: "materialized view",
    ObjectType.OBJECT_SEQUENCE: "sequence",
}
_ON_TABLE_OBJECTS = {ObjectType.OBJECT_TRIGGER, ObjectType.OBJECT_POLICY, ObjectType.OBJECT_RULE}
# Objects whose DDL takes no lock on any table (without CASCADE).
_NO_TABLE_OBJECTS = {
    ObjectType.OBJECT_FUNCTION,
    ObjectType.OBJECT_PROCEDURE,
    ObjectType.OBJECT_ROUTINE,
    ObjectType.OBJECT_AGGREGATE,
    ObjectType.OBJECT_TYPE,
    ObjectType.OBJECT_DOMAIN,
    ObjectType.OBJECT_SCHEMA,
    ObjectType.OBJECT_EXTENSION,
    ObjectType.OBJECT_COLLATION,
    ObjectType.OBJECT_CAST,
    ObjectType.OBJECT_OPERATOR,
    ObjectType.OBJECT_PUBLICATION,
    ObjectType.OBJECT_EVENT_TRIGGER,
    ObjectType.OBJECT_ROLE,
    ObjectType.OBJECT_LANGUAGE,
    ObjectType.OBJECT_DATABASE,
    ObjectType.OBJECT_STATISTIC_EXT,
}
# Statements that lock no table at all.
_NO_TABLE_STATEMENTS = (
    ast.CreateFunctionStmt,
    ast.CreateSchemaStmt,
    ast.CreateEnumStmt,
    ast.CreateRangeStmt,
    ast.CompositeTypeStmt,
    ast.DefineStmt,
    ast.AlterEnumStmt,
    ast.AlterFunctionStmt,
    ast.CreateRoleStmt,
    ast.AlterRoleStmt,
    ast.AlterRoleSetStmt,
    ast.DropRoleStmt,
    ast.GrantStmt,
    ast.GrantRoleStmt,
    ast.AlterDefaultPrivilegesStmt,
    ast.VariableSetStmt,
    ast.TransactionStmt,
    ast.NotifyStmt,
    ast.CreateCastStmt,
    ast.CreateEventTrigStmt,
    ast.CreateSeqStmt,
    ast.CreatePLangStmt,
    ast.AlterOwnerStmt,
    ast.CreateConversionStmt,
    ast.CreateOpClassStmt,
    ast.CreateOpFamilyStmt,
)


@dataclass
class _Found:
    """What one statement does, before sizes are attached."""

    form: str
    locks: list[tuple[str, LockMode, Effect, str, bool]] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lock(self, relation: str, mode: LockMode, effect: Effect, why: str, *, destructive: bool = False) -> None:
        self.locks.append((relation, mode, effect, why, destructive))


class _Classifier:
    def __init__(self, target: TargetTables) -> None:
        self.catalog = _Catalog(target)

    def statement(self, node: Any, file: str, line: int, text: str) -> StatementLocks:
        handler = getattr(self, "_" + type(node).__name__, None)
        if handler is not None:
            found: _Found = handler(node)
        elif isinstance(node, _NO_TABLE_STATEMENTS):
            found = _Found(_form_name(node))
            if isinstance(node, ast.CreateFunctionStmt):
                found.notes.append("the function body is not analysed; what it does runs when it is called")
        else:
            found = _Found(_form_name(node), unknowns=[f"{_form_name(node)} is not a form this plan classifies"])
        merged: dict[str, tuple[LockMode, Effect, list[str], bool]] = {}
        for relation, mode, effect, why, destructive in found.locks:
            if relation in merged:
                old_mode, old_effect, whys, old_destructive = merged[relation]
                merged[relation] = (
                    max(old_mode, mode),
                    _strongest((old_effect, effect)),
                    [*whys, why],
                    old_destructive or destructive,
                )
            else:
                merged[relation] = (mode, effect, [why], destructive)
        sizes = {relation: self.catalog.size(relation) for relation in merged}
        locks = tuple(
            TableLock(relation, mode, effect, "; ".join(whys), sizes[relation], destructive)
            for relation, (mode, effect, whys, destructive) in merged.items()
        )
        self._apply(node)
        return StatementLocks(file, line, _one_line(text), found.form, locks, tuple(found.unknowns), tuple(found.notes))

    # --- ALTER TABLE ----------------------------------------------------------------------------

    def _AlterTableStmt(self, node: ast.AlterTableStmt) -> _Found:
        kind = _RELATION_OBJECTS.get(node.objtype, "index" if node.objtype == ObjectType.OBJECT_INDEX else "")
        if node.objtype == ObjectType.OBJECT_TYPE:
            return _Found("ALTER TYPE", unknowns=["ALTER TYPE on a composite type can change the tables using it"])
        relation = _rangevar(node.relation)
        found = _Found(f"ALTER {kind.upper() or 'TABLE'}")
        names = []
        for cmd in node.cmds or ():
            names.append(self._alter_cmd(cmd, relation, found))
        found.form = f"ALTER {kind.upper() or 'TABLE'} " + ", ".join(dict.fromkeys(names))
        return found

    def _alter_cmd(self, cmd: ast.AlterTableCmd, relation: str, found: _Found) -> str:
        sub = cmd.subtype
        table = self.catalog.tables.get(relation)
        ae, sue = LockMode.ACCESS_EXCLUSIVE, LockMode.SHARE_UPDATE_EXCLUSIVE
        if sub == AlterTableType.AT_AddColumn:
            if cmd.missing_ok and table and cmd.def_.colname in table.columns:
                found.lock(relation, ae, Effect.NONE, f"ADD COLUMN IF NOT EXISTS {cmd.def_.colname}: already there")
            else:
                self._add_column(cmd.def_, relation, found)
            return "ADD COLUMN"
        if sub == AlterTableType.AT_AlterColumnType:
            column = cmd.def_
            new = _column_type(column.typeName)
            old = table.columns.get(cmd.name) if table else None
            effect, why = _type_change(old, new, using=column.raw_default is not None)
            if relation in self.catalog.new and old is None:
                effect, why = Effect.NONE, f"{cmd.name} belongs to a table created in this migration set"
            if effect is Effect.NONE and table and any(cmd.name in cols for cols in table.indexes.values()):
                effect, why = Effect.SCAN, why + "; the indexes on the column are rebuilt"
            if effect is Effect.UNKNOWN:
                found.unknowns.append(f"ALTER COLUMN {cmd.name} TYPE: {why}")
            found.lock(relation, ae, effect, f"ALTER COLUMN {cmd.name} TYPE: {why}")
            return "ALTER COLUMN TYPE"
        if sub == AlterTableType.AT_SetNotNull:
            found.lock(relation, ae, Effect.SCAN, f"SET NOT NULL on {cmd.name}: every row is checked")
            return "SET NOT NULL"
        if sub == AlterTableType.AT_AddConstraint:
            return self._add_constraint(cmd.def_, relation, found)
        if sub == AlterTableType.AT_ValidateConstraint:
            found.lock(relation, sue, Effect.SCAN, f"VALIDATE CONSTRAINT {cmd.name}: every row is checked")
            return "VALIDATE CONSTRAINT"
        if sub == AlterTableType.AT_DropConstraint:
            found.lock(relation, ae, Effect.NONE, f"DROP CONSTRAINT {cmd.name}")
            constraint = table.constraints.get(cmd.name) if table else None
            if constraint is None and not cmd.missing_ok:
                found.unknowns.append(
                    f"constraint {cmd.name} is not known: if it is a foreign key, its referenced table is locked too"
                )
            if constraint and constraint.kind == "f" and constraint.references:
                found.lock(constraint.references, ae, Effect.NONE, f"DROP CONSTRAINT {cmd.name} drops its triggers")
            if cmd.behavior == DropBehavior.DROP_CASCADE:
                found.unknowns.append("CASCADE also drops dependent foreign keys and locks their tables")
            return "DROP CONSTRAINT"
        if sub == AlterTableType.AT_DropColumn:
            found.lock(relation, ae, Effect.NONE, f"DROP COLUMN {cmd.name}: its data is lost", destructive=True)
            for name, constraint in table.constraints.items() if table else ():
                if constraint.kind == "f" and constraint.references and cmd.name in constraint.columns:
                    found.lock(constraint.references, ae, Effect.NONE, f"dropping {cmd.name} drops foreign key {name}")
            if cmd.behavior == DropBehavior.DROP_CASCADE:
                found.unknowns.append("CASCADE also drops the views and constraints that use the column")
            return "DROP COLUMN"
        if sub in (AlterTableType.AT_SetRelOptions, AlterTableType.AT_ResetRelOptions):
            options = [d.defname for d in cmd.def_ or ()]
            light = all(
                o in _LIGHT_OPTIONS or o.startswith(("autovacuum_", "toast.")) for o in options
            ) and self.catalog.tables.get(relation, Table("", "", "r", None, None)).kind not in ("v",)
            found.lock(relation, sue if light else ae, Effect.NONE, f"SET ({', '.join(options)})")
            return "SET (storage parameters)" if light else "SET (options)"
        if sub == AlterTableType.AT_AttachPartition:
            partition = _rangevar(cmd.def_.name)
            found.lock(relation, sue, Effect.NONE, f"ATTACH PARTITION {partition}")
            found.lock(partition, ae, Effect.SCAN, "the partition's rows are checked against its bounds")
            return "ATTACH PARTITION"
        if sub in (AlterTableType.AT_DetachPartition, AlterTableType.AT_DetachPartitionFinalize):
            partition = _rangevar(cmd.def_.name)
            mode = sue if cmd.def_.concurrent or sub == AlterTableType.AT_DetachPartitionFinalize else ae
            found.lock(relation, mode, Effect.NONE, f"DETACH PARTITION {partition}")
            found.lock(partition, mode, Effect.NONE, "detached from its parent")
            return "DETACH PARTITION"
        if sub in (AlterTableType.AT_AddInherit, AlterTableType.AT_DropInherit):
            found.lock(relation, ae, Effect.SCAN if sub == AlterTableType.AT_AddInherit else Effect.NONE, "INHERIT")
            found.unknowns.append("INHERIT / NO INHERIT also locks the parent table")
            return "INHERIT"
        simple = _SIMPLE_ALTER.get(sub)
        if simple is None:
            found.unknowns.append(f"ALTER TABLE subcommand {sub.name} is not a form this plan classifies")
            return sub.name
        mode, effect, label = simple
        what = f"{label} {cmd.name}" if cmd.name else label
        found.lock(relation, mode, effect, what)
        return label

    def _add_column(self, column: ast.ColumnDef, relation: str, found: _Found) -> None:
        ae = LockMode.ACCESS_EXCLUSIVE
        name = column.colname
        effect, why = Effect.NONE, f"ADD COLUMN {name}: catalog only"
        type_name = _strings(column.typeName.names)[-1]
        constraints = list(column.constraints or ())
        contypes = {c.contype for c in constraints}
        default = next((c.raw_expr for c in constraints if c.contype == ConstrType.CONSTR_DEFAULT), None)
        if type_name in SERIAL_TYPES:
            effect, why = Effect.REWRITE, f"ADD COLUMN {name} {type_name}: nextval() fills every row"
        elif ConstrType.CONSTR_IDENTITY in contypes:
            effect, why = Effect.REWRITE, f"ADD COLUMN {name} ... IDENTITY: every row gets a value"
        elif ConstrType.CONSTR_GENERATED in contypes:
            effect, why = Effect.REWRITE, f"ADD COLUMN {name} GENERATED ... STORED: computed for every row"
        elif _type_qualified(column.typeName) in self.catalog.domains:
            effect, why = Effect.REWRITE, f"ADD COLUMN {name}: domain {type_name} has constraints, checked per row"
        elif default is not None:
            volatility, function = _volatility(default)
            if volatility == "volatile":
                effect, why = Effect.REWRITE, f"ADD COLUMN {name} DEFAULT {function}(): volatile, one value per row"
            elif volatility == "unknown":
                effect, why = Effect.UNKNOWN, f"ADD COLUMN {name} DEFAULT calls {function}: a volatile one rewrites"
                found.unknowns.append(why)
            else:
                why = f"ADD COLUMN {name} with a non-volatile default: catalog only"
        if effect is Effect.NONE:
            if ConstrType.CONSTR_CHECK in contypes:
                effect, why = Effect.SCAN, f"ADD COLUMN {name} CHECK: every row is checked"
            elif contypes & {ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_PRIMARY}:
                effect, why = Effect.SCAN, f"ADD COLUMN {name} UNIQUE/PRIMARY KEY: builds an index"
            elif ConstrType.CONSTR_NOTNULL in contypes and default is None:
                effect, why = Effect.SCAN, f"ADD COLUMN {name} NOT NULL without a default: every row is checked"
        for constraint in constraints:
            if constraint.contype == ConstrType.CONSTR_FOREIGN:
                referenced = _rangevar(constraint.pktable)
                found.lock(referenced, LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, f"foreign key from {relation}")
                if effect is Effect.NONE:
                    effect, why = Effect.SCAN, f"ADD COLUMN {name} REFERENCES {referenced}: every row is checked"
        found.lock(relation, ae, effect, why)

    def _add_constraint(self, constraint: ast.Constraint, relation: str, found: _Found) -> str:
        name = constraint.conname or "(unnamed)"
        validated = not constraint.skip_validation
        if constraint.contype == ConstrType.CONSTR_FOREIGN:
            referenced = _rangevar(constraint.pktable)
            effect = Effect.SCAN if validated else Effect.NONE
            why = "every row is checked" if validated else "NOT VALID: no check now"
            found.lock(relation, LockMode.SHARE_ROW_EXCLUSIVE, effect, f"ADD FOREIGN KEY {name}: {why}")
            found.lock(referenced, LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, f"referenced by foreign key {name}")
            return "ADD FOREIGN KEY"
        if constraint.contype == ConstrType.CONSTR_CHECK:
            effect = Effect.SCAN if validated else Effect.NONE
            why = "every row is checked" if validated else "NOT VALID: no check now"
            found.lock(relation, LockMode.ACCESS_EXCLUSIVE, effect, f"ADD CHECK {name}: {why}")
            return "ADD CHECK"
        if constraint.contype in (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE, ConstrType.CONSTR_EXCLUSION):
            label = {
                ConstrType.CONSTR_PRIMARY: "PRIMARY KEY",
                ConstrType.CONSTR_UNIQUE: "UNIQUE",
                ConstrType.CONSTR_EXCLUSION: "EXCLUDE",
            }[constraint.contype]
            if constraint.indexname:
                effect = Effect.SCAN if constraint.contype == ConstrType.CONSTR_PRIMARY else Effect.NONE
                why = f"ADD {label} USING INDEX {constraint.indexname}" + (
                    ": its columns become NOT NULL, checked per row" if effect is Effect.SCAN else ""
                )
            else:
                effect, why = Effect.SCAN, f"ADD {label} {name}: builds an index while writes and reads wait"
            found.lock(relation, LockMode.ACCESS_EXCLUSIVE, effect, why)
            return f"ADD {label}"
        found.unknowns.append(f"ADD CONSTRAINT of type {constraint.contype.name} is not classified")
        return "ADD CONSTRAINT"

    # --- other statements on tables ---------------------------------------------------------------

    def _CreateStmt(self, node: ast.CreateStmt) -> _Found:
        relation = _rangevar(node.relation)
        found = _Found("CREATE TABLE")
        if node.if_not_exists and relation in self.catalog.tables:
            found.notes.append(f"{relation} already exists: IF NOT EXISTS skips it")
            return found
        for element in node.tableElts or ():
            for constraint in (element.constraints or ()) if isinstance(element, ast.ColumnDef) else (element,):
                if isinstance(constraint, ast.Constraint) and constraint.contype == ConstrType.CONSTR_FOREIGN:
                    referenced = _rangevar(constraint.pktable)
                    if referenced != relation:
                        found.lock(
                            referenced, LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, f"foreign key from new {relation}"
                        )
        for parent in node.inhRelations or ():
            if node.partbound is not None:
                found.form = "CREATE TABLE ... PARTITION OF"
                found.lock(_rangevar(parent), LockMode.ACCESS_EXCLUSIVE, Effect.NONE, f"new partition {relation}")
            else:
                found.form = "CREATE TABLE ... INHERITS"
                found.lock(
                    _rangevar(parent), LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, f"new child table {relation}"
                )
        return found

    def _CreateTableAsStmt(self, node: ast.CreateTableAsStmt) -> _Found:
        kind = "MATERIALIZED VIEW" if node.objtype == ObjectType.OBJECT_MATVIEW else "TABLE"
        found = _Found(f"CREATE {kind} AS")
        found.notes.append("reads its source tables under ACCESS SHARE (blocks only ACCESS EXCLUSIVE)")
        return found

    def _ViewStmt(self, node: ast.ViewStmt) -> _Found:
        relation = _rangevar(node.view)
        found = _Found("CREATE OR REPLACE VIEW" if node.replace else "CREATE VIEW")
        if node.replace and relation in self.catalog.tables:
            found.lock(relation, LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "the view's definition is replaced")
        return found

    def _IndexStmt(self, node: ast.IndexStmt) -> _Found:
        relation = _rangevar(node.relation)
        unique = "UNIQUE " if node.unique else ""
        name = node.idxname or "(unnamed)"
        if node.if_not_exists and node.idxname and self.catalog.table_of_index(_index_name(node, relation)):
            return _Found(f"CREATE {unique}INDEX", notes=[f"{name} already exists: IF NOT EXISTS skips it"])
        if node.concurrent:
            found = _Found(f"CREATE {unique}INDEX CONCURRENTLY")
            found.lock(
                relation,
                LockMode.SHARE_UPDATE_EXCLUSIVE,
                Effect.SCAN,
                f"builds {name} in two passes without blocking writes",
            )
            found.notes.append("cannot run inside a transaction block: keep it alone in its file")
        else:
            found = _Found(f"CREATE {unique}INDEX")
            found.lock(relation, LockMode.SHARE, Effect.SCAN, f"builds {name} while writes wait")
        table = self.catalog.tables.get(relation)
        if table and table.kind == "p":
            found.notes.append("on a partitioned table: every partition is locked the same way")
        return found

    def _CreateTrigStmt(self, node: ast.CreateTrigStmt) -> _Found:
        found = _Found("CREATE TRIGGER")
        found.lock(_rangevar(node.relation), LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, f"trigger {node.trigname}")
        return found

    def _RuleStmt(self, node: ast.RuleStmt) -> _Found:
        found = _Found("CREATE RULE")
        found.lock(_rangevar(node.relation), LockMode.ACCESS_EXCLUSIVE, Effect.NONE, f"rule {node.rulename}")
        return found

    def _CreatePolicyStmt(self, node: ast.CreatePolicyStmt) -> _Found:
        found = _Found("CREATE POLICY")
        found.lock(_rangevar(node.table), LockMode.ACCESS_EXCLUSIVE, Effect.NONE, f"policy {node.policy_name!r}")
        return found

    def _AlterPolicyStmt(self, node: ast.AlterPolicyStmt) -> _Found:
        found = _Found("ALTER POLICY")
        found.lock(_rangevar(node.table), LockMode.ACCESS_EXCLUSIVE, Effect.NONE, f"policy {node.policy_name!r}")
        return found

    def _DropStmt(self, node: ast.DropStmt) -> _Found:
        kind = node.removeType
        cascade = node.behavior == DropBehavior.DROP_CASCADE
        label = kind.name.removeprefix("OBJECT_").replace("_", " ")
        found = _Found(f"DROP {label}" + (" CONCURRENTLY" if node.concurrent else ""))
        ae = LockMode.ACCESS_EXCLUSIVE
        for obj in node.objects or ():
            parts = _strings(obj) if isinstance(obj, tuple) else []
            if kind in _RELATION_OBJECTS and parts:
                relation = _qualify(parts)
                table = self.catalog.tables.get(relation)
                if table is None and node.missing_ok:
                    continue
                data = kind in (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_FOREIGN_TABLE)
                found.lock(relation, ae, Effect.NONE, f"DROP {label}", destructive=data)
                for name, constraint in table.constraints.items() if table else ():
                    if constraint.kind == "f" and constraint.references and constraint.references != relation:
                        found.lock(constraint.references, ae, Effect.NONE, f"drops foreign key {name} of {relation}")
                if table and cascade:
                    for child in table.referenced_by:
                        found.lock(child, ae, Effect.NONE, f"CASCADE drops its foreign key to {relation}")
                if cascade:
                    found.unknowns.append("CASCADE also drops dependent views and functions' objects")
            elif kind == ObjectType.OBJECT_INDEX and parts:
                index = _qualify(parts)
                owner = self.catalog.table_of_index(index)
                if owner is None:
                    if not node.missing_ok:
                        found.unknowns.append(f"index {index} is not known: its table cannot be named")
                    continue
                mode = LockMode.SHARE_UPDATE_EXCLUSIVE if node.concurrent else ae
                found.lock(owner, mode, Effect.NONE, f"DROP INDEX {index}")
                if node.concurrent:
                    found.notes.append("cannot run inside a transaction block: keep it alone in its file")
            elif kind in _ON_TABLE_OBJECTS and len(parts) >= 2:
                relation = _qualify(parts[:-1])
                if relation not in self.catalog.tables and node.missing_ok:
                    continue
                found.lock(relation, ae, Effect.NONE, f"DROP {label} {parts[-1]}")
            elif kind in _NO_TABLE_OBJECTS:
                if cascade:
                    found.unknowns.append(f"DROP {label} ... CASCADE drops dependent objects and locks their tables")
                if kind == ObjectType.OBJECT_SCHEMA and cascade:
                    found.notes.append("drops every table in the schema with its data")
            else:
                found.unknowns.append(f"DROP {label} is not a form this plan classifies")
        return found

    def _RenameStmt(self, node: ast.RenameStmt) -> _Found:
        kind = node.renameType
        label = kind.name.removeprefix("OBJECT_").replace("_", " ")
        found = _Found(f"RENAME {label}")
        ae = LockMode.ACCESS_EXCLUSIVE
        if kind == ObjectType.OBJECT_INDEX:
            found.lock(
                _rangevar(node.relation), LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, f"index renamed {node.newname}"
            )
        elif kind in _RELATION_OBJECTS or kind in (ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABCONSTRAINT):
            what = f"{label.lower()} {node.subname or ''} renamed to {node.newname}".replace("  ", " ")
            found.lock(_rangevar(node.relation), ae, Effect.NONE, what)
            found.notes.append("clients that use the old name break")
        elif kind in _ON_TABLE_OBJECTS:
            found.lock(_rangevar(node.relation), ae, Effect.NONE, f"{label.lower()} {node.subname} renamed")
        elif kind not in _NO_TABLE_OBJECTS:
            found.unknowns.append(f"RENAME {label} is not a form this plan classifies")
        return found

    def _AlterObjectSchemaStmt(self, node: ast.AlterObjectSchemaStmt) -> _Found:
        kind = node.objectType
        label = kind.name.removeprefix("OBJECT_").replace("_", " ")
        found = _Found(f"ALTER {label} SET SCHEMA")
        if kind in _RELATION_OBJECTS:
            found.lock(
                _rangevar(node.relation), LockMode.ACCESS_EXCLUSIVE, Effect.NONE, f"moved to schema {node.newschema}"
            )
        elif kind not in _NO_TABLE_OBJECTS:
            found.unknowns.append(f"ALTER {label} SET SCHEMA is not a form this plan classifies")
        return found

    def _CommentStmt(self, node: ast.CommentStmt) -> _Found:
        kind = node.objtype
        parts: list[str] = _strings(node.object) if isinstance(node.object, tuple) else []
        found = _Found(f"COMMENT ON {kind.name.removeprefix('OBJECT_').replace('_', ' ')}")
        sue = LockMode.SHARE_UPDATE_EXCLUSIVE
        if (kind in _RELATION_OBJECTS or kind == ObjectType.OBJECT_INDEX) and parts:
            found.lock(_qualify(parts), sue, Effect.NONE, "comment")
        elif kind == ObjectType.OBJECT_COLUMN and len(parts) >= 2:
            found.lock(_qualify(parts[:-1]), sue, Effect.NONE, f"comment on column {parts[-1]}")
        return found

    def _RefreshMatViewStmt(self, node: ast.RefreshMatViewStmt) -> _Found:
        relation = _rangevar(node.relation)
        if node.concurrent:
            found = _Found("REFRESH MATERIALIZED VIEW CONCURRENTLY")
            found.lock(relation, LockMode.EXCLUSIVE, Effect.SCAN, "recomputed and merged: reads go on, writes wait")
        else:
            found = _Found("REFRESH MATERIALIZED VIEW")
            found.lock(relation, LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "recomputed into a new file")
        return found

    def _TruncateStmt(self, node: ast.TruncateStmt) -> _Found:
        found = _Found("TRUNCATE")
        for rangevar in node.relations or ():
            relation = _rangevar(rangevar)
            found.lock(
                relation, LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "every row removed (new file)", destructive=True
            )
            table = self.catalog.tables.get(relation)
            if node.behavior == DropBehavior.DROP_CASCADE and table:
                for child in table.referenced_by:
                    found.lock(
                        child, LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, f"CASCADE from {relation}", destructive=True
                    )
        return found

    def _ReindexStmt(self, node: ast.ReindexStmt) -> _Found:
        concurrent = any(d.defname == "concurrently" for d in node.params or ())
        kind = node.kind.name.removeprefix("REINDEX_OBJECT_")
        found = _Found(f"REINDEX {kind}" + (" CONCURRENTLY" if concurrent else ""))
        if node.relation is None:
            found.unknowns.append(f"REINDEX {kind} rebuilds indexes on many tables")
            return found
        if kind == "INDEX":
            index = _rangevar(node.relation)
            table = self.catalog.table_of_index(index)
            if table is None:
                found.unknowns.append(f"index {index} is not known: its table cannot be named")
                return found
        else:
            index, table = None, _rangevar(node.relation)
        if concurrent:
            found.lock(table, LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.SCAN, "rebuilt without blocking writes")
            found.notes.append("cannot run inside a transaction block: keep it alone in its file")
            return found
        found.lock(table, LockMode.SHARE, Effect.SCAN, "index rebuilt while writes wait")
        if index:
            found.lock(index, LockMode.ACCESS_EXCLUSIVE, Effect.SCAN, "queries that would use the index wait")
        else:
            found.notes.append("each index is locked ACCESS EXCLUSIVE while rebuilt: queries planning on it wait")
        return found

    def _ClusterStmt(self, node: ast.ClusterStmt) -> _Found:
        found = _Found("CLUSTER")
        if node.relation is None:
            found.unknowns.append("CLUSTER without a table rewrites every clustered table")
        else:
            found.lock(_rangevar(node.relation), LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "rewritten in index order")
        return found

    def _VacuumStmt(self, node: ast.VacuumStmt) -> _Found:
        options = {d.defname for d in node.options or ()}
        full = node.is_vacuumcmd and "full" in options
        name = ("VACUUM FULL" if full else "VACUUM") if node.is_vacuumcmd else "ANALYZE"
        found = _Found(name)
        if not node.rels:
            found.unknowns.append(f"{name} without a table processes every table")
        for rel in node.rels or ():
            relation = _rangevar(rel.relation)
            if full:
                found.lock(relation, LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "VACUUM FULL writes a new copy")
            else:
                found.lock(relation, LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.SCAN, f"{name.lower()} reads the table")
        if node.is_vacuumcmd:
            found.notes.append("VACUUM cannot run inside a transaction block: the migration fails")
        return found

    def _LockStmt(self, node: ast.LockStmt) -> _Found:
        mode = LockMode(node.mode)
        found = _Found(f"LOCK TABLE IN {mode.label} MODE")
        for rangevar in node.relations or ():
            found.lock(_rangevar(rangevar), mode, Effect.NONE, "explicit LOCK, held until the file commits")
        found.notes.append("the Supabase CLI adds no transaction block: LOCK TABLE fails with 25P01")
        return found

    def _CreateStatsStmt(self, node: ast.CreateStatsStmt) -> _Found:
        found = _Found("CREATE STATISTICS")
        for rangevar in node.relations or ():
            if isinstance(rangevar, ast.RangeVar):
                found.lock(_rangevar(rangevar), LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "extended statistics")
        return found

    def _AlterSeqStmt(self, node: ast.AlterSeqStmt) -> _Found:
        found = _Found("ALTER SEQUENCE")
        found.lock(_rangevar(node.sequence), LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "sequence options")
        return found

    def _AlterPublicationStmt(self, node: ast.AlterPublicationStmt) -> _Found:
        found = _Found("ALTER PUBLICATION")
        for spec in node.pubobjects or ():
            if spec.pubtable is not None:
                found.lock(
                    _rangevar(spec.pubtable.relation),
                    LockMode.SHARE_UPDATE_EXCLUSIVE,
                    Effect.NONE,
                    f"publication {node.pubname}",
                )
            else:
                found.unknowns.append("ALTER PUBLICATION ... TABLES IN SCHEMA locks every table of the schema")
        return found

    def _CreatePublicationStmt(self, node: ast.CreatePublicationStmt) -> _Found:
        found = _Found("CREATE PUBLICATION")
        for spec in node.pubobjects or ():
            if spec.pubtable is not None:
                found.lock(
                    _rangevar(spec.pubtable.relation),
                    LockMode.SHARE_UPDATE_EXCLUSIVE,
                    Effect.NONE,
                    f"publication {node.pubname}",
                )
        return found

    def _CreateDomainStmt(self, node: ast.CreateDomainStmt) -> _Found:
        return _Found("CREATE DOMAIN")

    def _AlterDomainStmt(self, node: ast.AlterDomainStmt) -> _Found:
        return _Found("ALTER DOMAIN", unknowns=["ALTER DOMAIN checks every column of the domain's type"])

    def _CreateExtensionStmt(self, node: ast.CreateExtensionStmt) -> _Found:
        return _Found("CREATE EXTENSION", notes=[f"runs the install script of {node.extname}"])

    def _DoStmt(self, node: ast.DoStmt) -> _Found:
        return _Found("DO", unknowns=["a DO block runs procedural code the plan does not analyse"])

    def _CallStmt(self, node: ast.CallStmt) -> _Found:
        return _Found("CALL", unknowns=["CALL runs a procedure the plan does not analyse"])

    def _SelectStmt(self, node: ast.SelectStmt) -> _Found:
        found = _Found("SELECT")
        calls = [c for c in _calls(node) if c not in HARMLESS_CALLS]
        if calls:
            found.unknowns.append(f"calls {', '.join(calls)}: what a function does is not analysed")
        return found

    def _dml(self, relation: str, form: str, effect: Effect, why: str) -> _Found:
        found = _Found(form)
        found.lock(relation, LockMode.ROW_EXCLUSIVE, effect, why)
        found.notes.append("row locks on every row it changes, held until the file commits; triggers fire")
        return found

    def _InsertStmt(self, node: ast.InsertStmt) -> _Found:
        select = node.selectStmt
        reads = isinstance(select, ast.SelectStmt) and bool(select.fromClause)
        return self._dml(
            _rangevar(node.relation),
            "INSERT",
            Effect.SCAN if reads else Effect.NONE,
            "rows from a query" if reads else "rows from VALUES",
        )

    def _UpdateStmt(self, node: ast.UpdateStmt) -> _Found:
        why = "updates the rows WHERE matches" if node.whereClause is not None else "updates every row"
        return self._dml(_rangevar(node.relation), "UPDATE", Effect.SCAN, why)

    def _DeleteStmt(self, node: ast.DeleteStmt) -> _Found:
        why = "deletes the rows WHERE matches" if node.whereClause is not None else "deletes every row"
        found = self._dml(_rangevar(node.relation), "DELETE", Effect.SCAN, why)
        if node.whereClause is None:
            relation, mode, effect, why_, _ = found.locks[0]
            found.locks[0] = (relation, mode, effect, why_, True)
        return found

    def _MergeStmt(self, node: ast.MergeStmt) -> _Found:
        return self._dml(_rangevar(node.relation), "MERGE", Effect.SCAN, "rows matched against its source")

    # --- keep the working catalog in step ------------------------------------------------------------

    def _apply(self, node: Any) -> None:
        catalog = self.catalog
        if isinstance(node, ast.CreateStmt):
            relation = _rangevar(node.relation)
            if relation in catalog.tables and node.if_not_exists:
                return
            columns = {
                e.colname: _column_type(e.typeName) for e in node.tableElts or () if isinstance(e, ast.ColumnDef)
            }
            catalog.create(relation, "p" if node.partspec is not None else "r", columns)
            constraints = {}
            for element in node.tableElts or ():
                owner = [element.colname] if isinstance(element, ast.ColumnDef) else []
                for c in (element.constraints or ()) if isinstance(element, ast.ColumnDef) else (element,):
                    if isinstance(c, ast.Constraint) and c.conname and c.contype in _CONTYPES:
                        constraints[c.conname] = _constraint(c, owner)
            catalog.update(relation, constraints=constraints)
        elif isinstance(node, ast.CreateTableAsStmt):
            kind = "m" if node.objtype == ObjectType.OBJECT_MATVIEW else "r"
            catalog.create(_rangevar(node.into.rel), kind)
        elif isinstance(node, ast.ViewStmt):
            relation = _rangevar(node.view)
            if relation not in catalog.tables:
                catalog.create(relation, "v")
        elif isinstance(node, ast.CreateDomainStmt):
            if node.constraints:
                catalog.domains.add(_qualify(_strings(node.domainname)))
        elif isinstance(node, ast.IndexStmt) and node.idxname:
            relation = _rangevar(node.relation)
            table = catalog.tables.get(relation)
            if table:
                cols = tuple(p.name for p in node.indexParams or () if isinstance(p, ast.IndexElem) and p.name)
                catalog.update(relation, indexes={**table.indexes, node.idxname: cols})
        elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
            self._apply_alter(node)
        elif isinstance(node, ast.RenameStmt) and node.relation is not None:
            relation = _rangevar(node.relation)
            if node.renameType in _RELATION_OBJECTS:
                catalog.move(relation, f"{relation.partition('.')[0]}.{node.newname}")
            elif node.renameType == ObjectType.OBJECT_COLUMN and relation in catalog.tables:
                renamed = dict(catalog.tables[relation].columns)
                if node.subname in renamed:
                    renamed[node.newname or ""] = renamed.pop(node.subname)
                catalog.update(relation, columns=renamed)
        elif isinstance(node, ast.AlterObjectSchemaStmt) and node.relation is not None:
            relation = _rangevar(node.relation)
            catalog.move(relation, f"{node.newschema}.{node.relation.relname}")
        elif isinstance(node, ast.DropStmt) and node.removeType in _RELATION_OBJECTS:
            for obj in node.objects or ():
                catalog.drop(_qualify(_strings(obj)))

    def _apply_alter(self, node: ast.AlterTableStmt) -> None:
        relation = _rangevar(node.relation)
        table = self.catalog.tables.get(relation)
        if table is None:
            return
        columns = dict(table.columns)
        constraints = dict(table.constraints)
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn:
                columns[cmd.def_.colname] = _column_type(cmd.def_.typeName)
            elif cmd.subtype == AlterTableType.AT_AlterColumnType:
                columns[cmd.name] = _column_type(cmd.def_.typeName)
            elif cmd.subtype == AlterTableType.AT_DropColumn:
                columns.pop(cmd.name, None)
            elif cmd.subtype == AlterTableType.AT_AddConstraint and cmd.def_.conname and cmd.def_.contype in _CONTYPES:
                constraints[cmd.def_.conname] = _constraint(cmd.def_, [])
            elif cmd.subtype == AlterTableType.AT_DropConstraint:
                constraints.pop(cmd.name, None)
        self.catalog.update(relation, columns=columns, constraints=constraints)


_CONTYPES = {
    ConstrType.CONSTR_CHECK: "c",
    ConstrType.CONSTR_FOREIGN: "f",
    ConstrType.CONSTR_PRIMARY: "p",
    ConstrType.CONSTR_UNIQUE: "u",
    ConstrType.CONSTR_EXCLUSION: "x",
}


def _constraint(node: ast.Constraint, owner: list[str]) -> Constraint:
    """A constraint as the catalog will hold it once the statement ran."""
    if node.contype == ConstrType.CONSTR_FOREIGN:
        return Constraint("f", _rangevar(node.pktable), tuple(_strings(node.fk_attrs) or owner))
    return Constraint(_CONTYPES[node.contype], None, tuple(_strings(node.keys) or owner))


def _index_name(node: ast.IndexStmt, relation: str) -> str:
    return f"{relation.partition('.')[0]}.{node.idxname}"


# ALTER TABLE subcommands whose lock and effect do not depend on their arguments (PostgreSQL 15).
_SIMPLE_ALTER: dict[AlterTableType, tuple[LockMode, Effect, str]] = {
    AlterTableType.AT_ColumnDefault: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "SET/DROP DEFAULT"),
    AlterTableType.AT_DropNotNull: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "DROP NOT NULL"),
    AlterTableType.AT_DropExpression: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "DROP EXPRESSION"),
    AlterTableType.AT_SetStatistics: (LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "SET STATISTICS"),
    AlterTableType.AT_SetOptions: (LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "SET (attribute options)"),
    AlterTableType.AT_ResetOptions: (LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "RESET (attribute options)"),
    AlterTableType.AT_SetStorage: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "SET STORAGE"),
    AlterTableType.AT_SetCompression: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "SET COMPRESSION"),
    AlterTableType.AT_AlterConstraint: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ALTER CONSTRAINT"),
    AlterTableType.AT_ChangeOwner: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "OWNER TO"),
    AlterTableType.AT_ClusterOn: (LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "CLUSTER ON"),
    AlterTableType.AT_DropCluster: (LockMode.SHARE_UPDATE_EXCLUSIVE, Effect.NONE, "SET WITHOUT CLUSTER"),
    AlterTableType.AT_SetLogged: (LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "SET LOGGED"),
    AlterTableType.AT_SetUnLogged: (LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "SET UNLOGGED"),
    AlterTableType.AT_SetAccessMethod: (LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "SET ACCESS METHOD"),
    AlterTableType.AT_SetTableSpace: (LockMode.ACCESS_EXCLUSIVE, Effect.REWRITE, "SET TABLESPACE"),
    AlterTableType.AT_EnableTrig: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "ENABLE TRIGGER"),
    AlterTableType.AT_EnableAlwaysTrig: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "ENABLE ALWAYS TRIGGER"),
    AlterTableType.AT_EnableReplicaTrig: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "ENABLE REPLICA TRIGGER"),
    AlterTableType.AT_DisableTrig: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "DISABLE TRIGGER"),
    AlterTableType.AT_EnableTrigAll: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "ENABLE TRIGGER ALL"),
    AlterTableType.AT_DisableTrigAll: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "DISABLE TRIGGER ALL"),
    AlterTableType.AT_EnableTrigUser: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "ENABLE TRIGGER USER"),
    AlterTableType.AT_DisableTrigUser: (LockMode.SHARE_ROW_EXCLUSIVE, Effect.NONE, "DISABLE TRIGGER USER"),
    AlterTableType.AT_EnableRule: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ENABLE RULE"),
    AlterTableType.AT_EnableAlwaysRule: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ENABLE ALWAYS RULE"),
    AlterTableType.AT_EnableReplicaRule: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ENABLE REPLICA RULE"),
    AlterTableType.AT_DisableRule: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "DISABLE RULE"),
    AlterTableType.AT_AddOf: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "OF"),
    AlterTableType.AT_DropOf: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "NOT OF"),
    AlterTableType.AT_ReplicaIdentity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "REPLICA IDENTITY"),
    AlterTableType.AT_EnableRowSecurity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ENABLE ROW LEVEL SECURITY"),
    AlterTableType.AT_DisableRowSecurity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "DISABLE ROW LEVEL SECURITY"),
    AlterTableType.AT_ForceRowSecurity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "FORCE ROW LEVEL SECURITY"),
    AlterTableType.AT_NoForceRowSecurity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "NO FORCE ROW LEVEL SECURITY"),
    AlterTableType.AT_GenericOptions: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "OPTIONS"),
    AlterTableType.AT_AlterColumnGenericOptions: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ALTER COLUMN OPTIONS"),
    AlterTableType.AT_AddIdentity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "ADD GENERATED AS IDENTITY"),
    AlterTableType.AT_SetIdentity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "SET GENERATED"),
    AlterTableType.AT_DropIdentity: (LockMode.ACCESS_EXCLUSIVE, Effect.NONE, "DROP IDENTITY"),
}


def _form_name(node: Any) -> str:
    name = type(node).__name__.removesuffix("Stmt")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).upper()


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _skip_comment_lines(line: int, text: str) -> int:
    """The statement's first line of SQL: split_statements counts from any comment lines above it."""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("--"):
            break
        line += 1
    return line


def _strip_leading_comments(text: str) -> str:
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].strip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


def classify(files: Sequence[Path], target: TargetTables) -> list[FileLocks]:
    """Classify every statement of the files, in order, against the target's tables as the set changes them."""
    classifier = _Classifier(target)
    results = []
    for path in files:
        display = path.name
        try:
            statements = split_statements(migration_sql(path))
        except pglast.parser.ParseError as exc:
            results.append(FileLocks(display, error=f"PostgreSQL cannot parse this file: {exc.args[0]}"))
            continue
        found = []
        for line, text in statements:
            node = pglast.parse_sql(text)[0].stmt
            found.append(
                classifier.statement(node, display, _skip_comment_lines(line, text), _strip_leading_comments(text))
            )
        results.append(FileLocks(display, tuple(found)))
    return results


def classify_sql(text: str, target: TargetTables, display: str = "<sql>") -> list[StatementLocks]:
    """Classify one file's text (tests and one-off checks)."""
    classifier = _Classifier(target)
    return [
        classifier.statement(
            pglast.parse_sql(chunk)[0].stmt, display, _skip_comment_lines(line, chunk), _strip_leading_comments(chunk)
        )
        for line, chunk in split_statements(text)
    ]
