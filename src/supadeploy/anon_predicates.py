"""What a SQL predicate can evaluate to in a request made with the anon key.

In an anon request `auth.uid()` and `auth.email()` are null, the JWT carries only the anon claims
and the role is `anon`. A predicate's possible outcomes (true, false, null) follow from three-valued
logic over those facts; every part this module cannot judge may be anything. So "TRUE is not among
the outcomes" is a proof that anon cannot pass, and anything else means it might.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SQLValueFunctionOp, SubLinkType

TRUE, FALSE, NULL = "t", "f", "n"
ANY_OUTCOME = frozenset({TRUE, FALSE, NULL})
# JWT claims an anon request carries; any other claim is null for anon.
ANON_CLAIMS = frozenset({"role", "iss", "ref", "iat", "exp", "aud"})
NO_NAMES: frozenset[str] = frozenset()


def _names(nodes: Any) -> tuple[str, ...]:
    return tuple(n.sval for n in nodes or () if isinstance(n, ast.String))


def _and(a: str, b: str) -> str:
    return FALSE if FALSE in (a, b) else NULL if NULL in (a, b) else TRUE


def _or(a: str, b: str) -> str:
    return TRUE if TRUE in (a, b) else NULL if NULL in (a, b) else FALSE


def _string_constant(node: Any) -> str | None:
    if isinstance(node, ast.TypeCast):
        return _string_constant(node.arg)
    value = getattr(node, "val", None) if isinstance(node, ast.A_Const) else None
    return value.sval if isinstance(value, ast.String) else None


def _call(node: Any) -> tuple[str, ...]:
    return _names(node.funcname) if isinstance(node, ast.FuncCall) else ()


def _scalar_subquery(node: Any) -> Any:
    """`x` for `(select x)` with no FROM, else None."""
    if isinstance(node, ast.SubLink) and node.subLinkType == SubLinkType.EXPR_SUBLINK:
        select = node.subselect
        if isinstance(select, ast.SelectStmt) and not select.fromClause and len(select.targetList or ()) == 1:
            return select.targetList[0].val
    return None


def _jwt_claim(node: Any) -> str | None:
    """The claim read by `auth.jwt() ->> 'claim'` (`->` too; for nested paths the first key)."""
    if isinstance(node, ast.A_Expr) and _names(node.name) in (("->>",), ("->",)):
        inner = _scalar_subquery(node.lexpr) or node.lexpr
        if _call(inner) == ("auth", "jwt"):
            return _string_constant(node.rexpr)
        return _jwt_claim(inner)
    return None


def null_for_anon(node: Any, null_names: frozenset[str] = NO_NAMES) -> bool:
    """True for expressions that are null in an anon request: auth.uid(), auth.email(), a user's claims.

    `null_names` are variables known to hold such a value (a PL/pgSQL `v uuid := auth.uid()`).
    """
    if isinstance(node, ast.TypeCast):
        return null_for_anon(node.arg, null_names)
    if (inner := _scalar_subquery(node)) is not None:
        return null_for_anon(inner, null_names)
    if isinstance(node, ast.ColumnRef):
        return len(node.fields or ()) == 1 and _names(node.fields)[:1] in {(n,) for n in null_names}
    if _call(node) in (("auth", "uid"), ("auth", "email")):
        return True
    claim = _jwt_claim(node)
    return claim is not None and claim not in ANON_CLAIMS


def _role_of_request(node: Any) -> bool:
    if isinstance(node, ast.TypeCast):
        return _role_of_request(node.arg)
    if (inner := _scalar_subquery(node)) is not None:
        return _role_of_request(inner)
    if isinstance(node, ast.SQLValueFunction):
        return node.op in (SQLValueFunctionOp.SVFOP_CURRENT_USER, SQLValueFunctionOp.SVFOP_CURRENT_ROLE)
    return _call(node) == ("auth", "role") or _jwt_claim(node) == "role"


def anon_outcomes(node: Any, null_names: frozenset[str] = NO_NAMES) -> frozenset[str]:
    """What a predicate can evaluate to in an anon request (parts it cannot judge: anything)."""
    if isinstance(node, ast.BoolExpr):
        parts = [anon_outcomes(a, null_names) for a in node.args or ()]
        if node.boolop == BoolExprType.NOT_EXPR:
            flip = {TRUE: FALSE, FALSE: TRUE, NULL: NULL}
            return frozenset(flip[o] for o in parts[0])
        combine = _and if node.boolop == BoolExprType.AND_EXPR else _or
        result = parts[0]
        for part in parts[1:]:
            result = frozenset(combine(a, b) for a in result for b in part)
        return result
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return frozenset({NULL})
        if isinstance(node.val, ast.Boolean):
            return frozenset({TRUE if node.val.boolval else FALSE})
        return ANY_OUTCOME
    if isinstance(node, ast.TypeCast):
        return anon_outcomes(node.arg, null_names)
    if isinstance(node, ast.NullTest) and null_for_anon(node.arg, null_names):
        return frozenset({TRUE if node.nulltesttype == NullTestType.IS_NULL else FALSE})
    if isinstance(node, ast.A_Expr):
        return _comparison(node, null_names)
    if isinstance(node, ast.SubLink):
        return _sublink(node, null_names)
    return ANY_OUTCOME


def _comparison(node: ast.A_Expr, null_names: frozenset[str]) -> frozenset[str]:
    # Strict operators: a null operand makes the result null.
    strict = node.kind in (
        A_Expr_Kind.AEXPR_OP,
        A_Expr_Kind.AEXPR_OP_ANY,
        A_Expr_Kind.AEXPR_OP_ALL,
        A_Expr_Kind.AEXPR_IN,
        A_Expr_Kind.AEXPR_LIKE,
        A_Expr_Kind.AEXPR_ILIKE,
    )
    if not strict:
        return ANY_OUTCOME
    operator = _names(node.name)
    if node.kind == A_Expr_Kind.AEXPR_OP and operator in (("=",), ("<>",), ("!=",)):
        for side, other in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
            constant = _string_constant(other)
            if _role_of_request(side) and constant is not None:
                return frozenset({TRUE if (constant == "anon") == (operator == ("=",)) else FALSE})
    operands = [node.lexpr] if node.kind == A_Expr_Kind.AEXPR_IN else [node.lexpr, node.rexpr]
    if any(null_for_anon(o, null_names) for o in operands):
        return frozenset({NULL})
    return ANY_OUTCOME


def _sublink(node: ast.SubLink, null_names: frozenset[str]) -> frozenset[str]:
    select = node.subselect
    # A WHERE that anon cannot pass leaves the subquery without rows (no GROUP BY: no aggregate row).
    rows_possible = not (
        isinstance(select, ast.SelectStmt)
        and select.whereClause is not None
        and not select.groupClause
        and TRUE not in anon_outcomes(select.whereClause, null_names)
    )
    if node.subLinkType == SubLinkType.EXISTS_SUBLINK:
        return frozenset({TRUE, FALSE}) if rows_possible else frozenset({FALSE})
    if node.subLinkType == SubLinkType.ANY_SUBLINK:
        if null_for_anon(node.testexpr, null_names):
            return frozenset({NULL, FALSE})
        return ANY_OUTCOME if rows_possible else frozenset({FALSE})
    return ANY_OUTCOME


def anon_can_pass(policy: ast.CreatePolicyStmt) -> bool:
    """Whether some row could pass the policy in an anon request (when unsure: yes)."""
    gates = [e for e in (policy.qual, policy.with_check) if e is not None]
    return not gates or any(TRUE in anon_outcomes(gate) for gate in gates)
