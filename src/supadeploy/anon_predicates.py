"""What a SQL predicate can evaluate to in a request made with the anon key.

In an anon request `auth.uid()` and `auth.email()` are null, the JWT carries only the anon claims
and the role is `anon`. A predicate's possible outcomes (true, false, null) follow from three-valued
logic over those facts; every part this module cannot judge may be anything. So "TRUE is not among
the outcomes" is a proof that anon cannot pass, and anything else means it might.
"""

from __future__ import annotations

from typing import Any

from supadeploy.sql_tree import Node, fields, kind, names, string

TRUE, FALSE, NULL = "t", "f", "n"
ANY_OUTCOME = frozenset({TRUE, FALSE, NULL})
# JWT claims an anon request carries; any other claim is null for anon.
ANON_CLAIMS = frozenset({"role", "iss", "ref", "iat", "exp", "aud"})
NO_NAMES: frozenset[str] = frozenset()
# Operators whose result is null when an operand is null.
STRICT_KINDS = frozenset({"AEXPR_OP", "AEXPR_OP_ANY", "AEXPR_OP_ALL", "AEXPR_IN", "AEXPR_LIKE", "AEXPR_ILIKE"})


def _and(a: str, b: str) -> str:
    return FALSE if FALSE in (a, b) else NULL if NULL in (a, b) else TRUE


def _or(a: str, b: str) -> str:
    return TRUE if TRUE in (a, b) else NULL if NULL in (a, b) else FALSE


def _call(node: Any) -> tuple[str, ...]:
    return names(node["FuncCall"].get("funcname")) if kind(node) == "FuncCall" else ()


def _scalar_subquery(node: Any) -> Any:
    """`x` for `(select x)` with no FROM, else None."""
    if kind(node) != "SubLink" or node["SubLink"].get("subLinkType") != "EXPR_SUBLINK":
        return None
    select = fields(node["SubLink"].get("subselect"))
    targets = select.get("targetList") or []
    if select.get("fromClause") or len(targets) != 1:
        return None
    return fields(targets[0]).get("val")


def _jwt_claim(node: Any) -> str | None:
    """The claim read by `auth.jwt() ->> 'claim'` (`->` too; for nested paths the first key)."""
    if kind(node) == "A_Expr" and names(node["A_Expr"].get("name")) in (("->>",), ("->",)):
        expression = node["A_Expr"]
        inner = _scalar_subquery(expression.get("lexpr")) or expression.get("lexpr")
        if _call(inner) == ("auth", "jwt"):
            return string(expression.get("rexpr"))
        return _jwt_claim(inner)
    return None


def null_for_anon(node: Any, null_names: frozenset[str] = NO_NAMES) -> bool:
    """True for expressions that are null in an anon request: auth.uid(), auth.email(), a user's claims.

    `null_names` are variables known to hold such a value (a PL/pgSQL `v uuid := auth.uid()`).
    """
    name = kind(node)
    if name == "TypeCast":
        return null_for_anon(node["TypeCast"].get("arg"), null_names)
    if (inner := _scalar_subquery(node)) is not None:
        return null_for_anon(inner, null_names)
    if name == "ColumnRef":
        parts = names(node["ColumnRef"].get("fields"))
        return len(parts) == 1 and parts[0] in null_names
    if _call(node) in (("auth", "uid"), ("auth", "email")):
        return True
    claim = _jwt_claim(node)
    return claim is not None and claim not in ANON_CLAIMS


def _role_of_request(node: Any) -> bool:
    name = kind(node)
    if name == "TypeCast":
        return _role_of_request(node["TypeCast"].get("arg"))
    if (inner := _scalar_subquery(node)) is not None:
        return _role_of_request(inner)
    if name == "SQLValueFunction":
        return node["SQLValueFunction"].get("op") in ("SVFOP_CURRENT_USER", "SVFOP_CURRENT_ROLE")
    return _call(node) == ("auth", "role") or _jwt_claim(node) == "role"


def anon_outcomes(node: Any, null_names: frozenset[str] = NO_NAMES) -> frozenset[str]:
    """What a predicate can evaluate to in an anon request (parts it cannot judge: anything)."""
    name = kind(node)
    if name == "BoolExpr":
        expression = node["BoolExpr"]
        parts = [anon_outcomes(a, null_names) for a in expression.get("args") or ()]
        if expression.get("boolop") == "NOT_EXPR":
            flip = {TRUE: FALSE, FALSE: TRUE, NULL: NULL}
            return frozenset(flip[o] for o in parts[0])
        combine = _and if expression.get("boolop") == "AND_EXPR" else _or
        result = parts[0]
        for part in parts[1:]:
            result = frozenset(combine(a, b) for a in result for b in part)
        return result
    if name == "A_Const":
        constant = node["A_Const"]
        if constant.get("isnull"):
            return frozenset({NULL})
        if "boolval" in constant:
            return frozenset({TRUE if constant["boolval"].get("boolval") else FALSE})
        return ANY_OUTCOME
    if name == "TypeCast":
        return anon_outcomes(node["TypeCast"].get("arg"), null_names)
    if name == "NullTest" and null_for_anon(node["NullTest"].get("arg"), null_names):
        return frozenset({TRUE if node["NullTest"].get("nulltesttype") == "IS_NULL" else FALSE})
    if name == "A_Expr":
        return _comparison(node["A_Expr"], null_names)
    if name == "SubLink":
        return _sublink(node["SubLink"], null_names)
    return ANY_OUTCOME


def _comparison(expression: Node, null_names: frozenset[str]) -> frozenset[str]:
    operator_kind = expression.get("kind")
    if operator_kind not in STRICT_KINDS:
        return ANY_OUTCOME
    operator = names(expression.get("name"))
    left, right = expression.get("lexpr"), expression.get("rexpr")
    if operator_kind == "AEXPR_OP" and operator in (("=",), ("<>",), ("!=",)):
        for side, other in ((left, right), (right, left)):
            constant = string(other)
            if _role_of_request(side) and constant is not None:
                return frozenset({TRUE if (constant == "anon") == (operator == ("=",)) else FALSE})
    operands = [left] if operator_kind == "AEXPR_IN" else [left, right]
    if any(null_for_anon(o, null_names) for o in operands):
        return frozenset({NULL})
    return ANY_OUTCOME


def _sublink(link: Node, null_names: frozenset[str]) -> frozenset[str]:
    select = fields(link.get("subselect"))
    # A WHERE that anon cannot pass leaves the subquery without rows (no GROUP BY: no aggregate row).
    where = select.get("whereClause")
    rows_possible = not (
        kind(link.get("subselect")) == "SelectStmt"
        and where is not None
        and not select.get("groupClause")
        and TRUE not in anon_outcomes(where, null_names)
    )
    link_type = link.get("subLinkType")
    if link_type == "EXISTS_SUBLINK":
        return frozenset({TRUE, FALSE}) if rows_possible else frozenset({FALSE})
    if link_type == "ANY_SUBLINK":
        if null_for_anon(link.get("testexpr"), null_names):
            return frozenset({NULL, FALSE})
        return ANY_OUTCOME if rows_possible else frozenset({FALSE})
    return ANY_OUTCOME


def anon_can_pass(policy: Node) -> bool:
    """Whether some row could pass a CreatePolicyStmt's predicates in an anon request (when unsure: yes)."""
    gates = [e for e in (policy.get("qual"), policy.get("with_check")) if e is not None]
    return not gates or any(TRUE in anon_outcomes(gate) for gate in gates)
