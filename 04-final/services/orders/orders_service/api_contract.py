"""What makes the REST API keep docs/api-contract.md's promises, whatever the view.

- JSON errors: every 4xx/5xx under /api/ is JSON, also the ones Django answers before (or
  instead of) DRF: an unknown path, a malformed id that no URL pattern matches, a crash.
- Bad input names its field: a malformed `?page=` or a NUL byte in `?search=` answers 400
  keyed by the parameter, like a bad body does; a page past the end stays a 404.
- A schema true to the API: shop/api_schema.py.

Deliberate copy: each Django project of every stage has this file (one project never imports
another's code). Within a stage, services/orders/tests/unit/test_deliberate_copies.py keeps
the copies equal; across stages, `python3 -m workshop diff` shows any drift.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse
from rest_framework import exceptions, filters, pagination

API_PREFIX = "/api/"


def json_errors_under_api(get_response):
    """An error under /api/ that is not JSON yet (Django's HTML 404 and 500 pages, with or
    without DEBUG) becomes `{"detail": "<reason>"}` with the same status: a client of the API
    never has to parse a web page. Sits outside CommonMiddleware, so APPEND_SLASH still
    redirects `/api/v1/products` to `/api/v1/products/` first."""

    def middleware(request):
        response = get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            status = response.status_code
            replaced = JsonResponse({"detail": _reason(status)}, status=status)
            for header in ("Allow", "Retry-After", "WWW-Authenticate", "X-Served-By"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response

    return middleware


def _reason(status: int) -> str:
    if status == 404:
        return "Not found."
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Error."


class StrictPageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers, with bad input told apart from a page past the end.

    `?page=abc`, `?page=0` or an empty `?page=` answer 400 `{"page": [...]}` (DRF would answer
    404, or quietly serve page 1); a well-formed page past the end stays 404 "Invalid page.".
    """

    last_page_strings = ()  # no `?page=last`: the contract has integers only

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise exceptions.ValidationError(
                {self.page_query_param: ["A page number is an integer of 1 or more."]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class FieldKeyedSearchFilter(filters.SearchFilter):
    """DRF's search, with its validation error keyed by the parameter, like every 400 here:
    `{"search": ["Null characters are not allowed."]}` rather than a bare list; and a schema
    that says so."""

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except exceptions.ValidationError as exc:
            raise exceptions.ValidationError({self.search_param: exc.detail}) from exc

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.search_param:
                # What DRF's CharField refuses, the schema says: no NUL character.
                parameter["schema"] = {"type": "string", "pattern": "^[^\\x00]*$"}
        return parameters
