"""Liveness says the process answers; readiness says it can do its job (the database answers)."""

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok", "service": settings.SERVICE_NAME})


def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "database": str(exc)}, status=503)
    return JsonResponse({"status": "ready", "service": settings.SERVICE_NAME})
