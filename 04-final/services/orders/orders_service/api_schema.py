"""A schema true to the API: every operation documents the errors it can really answer.

drf-spectacular documents the success answers it can see in a view; this adds the error
answers DRF and shop/api_contract.py really give (400, 401, 403, 404, 406, 415; 429 from the
gateway), each with its JSON shape, so a client (and schemathesis, `tox -e schema-*`) can rely
on the document.

Deliberate copy: each Django project of every stage has this file (one project never imports
another's code). Within a stage, services/orders/tests/unit/test_deliberate_copies.py keeps
the copies equal; across stages, `python3 -m workshop diff` shows any drift.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import permissions

ERROR_SCHEMA = {
    "type": "object",
    "description": "A machine `code` (business and gateway errors) and a human `detail`.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "required": ["detail"],
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Invalid input, keyed by the wrong field (nested for lines), e.g. "
                   '`{"lines": [{"quantity": ["..."]}]}`; malformed JSON: `{"detail": "..."}`.',
    "additionalProperties": True,
}


class ContractAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error answers DRF and this project really give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status, (description, component) in self._error_answers().items():
            if status in responses:
                if "content" not in responses[status]:  # described but shapeless: give it one
                    responses[status]["content"] = {"application/json": {"schema": component}}
                continue
            responses[status] = {
                "description": description,
                "content": {"application/json": {"schema": component}},
            }
        return dict(sorted(responses.items()))

    def _component(self, name, schema):
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA,
                                      object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def _error_answers(self):
        error = self._component("Error", ERROR_SCHEMA)
        invalid = self._component("ValidationError", VALIDATION_ERROR_SCHEMA)
        unsafe = self.method not in permissions.SAFE_METHODS
        has_body = unsafe and self.get_request_serializer() is not None
        is_list = self.method == "GET" and self._is_list_view()
        paginated = is_list and self._get_paginator() is not None
        perms = _classes(self.view.get_permissions())
        authenticators = self.view.get_authenticators()
        session = any(a.__class__.__name__ == "SessionAuthentication" for a in authenticators)
        answers = {"406": ("the Accept header asks for something other than JSON", error)}
        if authenticators:
            answers["401"] = ("no credentials, or a wrong token", error)
        if has_body or is_list:
            answers["400"] = ("invalid input, keyed by the field", invalid)
        if permissions.IsAdminUser in perms or (unsafe and session):
            answers["403"] = ("staff only, or a session request without its CSRF token", error)
        if "{" in self.path or paginated:
            answers["404"] = ("no such resource (for a list: a page past the end)", error)
        if has_body:
            answers["415"] = ("the body is not JSON", error)
        # Stage 04: the gateway may limit any route (routes.toml, `rate_limit`, edited live).
        answers["429"] = ("too many requests from this client (Retry-After: seconds to wait)",
                          error)
        return answers


def _classes(perms) -> list[type]:
    """The permission classes a view uses, looking inside `A | B` (DRF's OR/AND/NOT operands):
    `IsAdminUser | ServiceMayRead` (stage 04's stock API) still answers a customer 403."""
    out = []
    for perm in perms:
        operands = [getattr(perm, name) for name in ("op1", "op2") if hasattr(perm, name)]
        out.extend(_classes(operands) if operands else [perm.__class__])
    return out
