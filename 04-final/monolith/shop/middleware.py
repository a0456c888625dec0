from django.conf import settings


def served_by(get_response):
    """Name the service on every response: behind a facade, you can tell who answered."""

    def middleware(request):
        response = get_response(request)
        response["X-Served-By"] = settings.SERVICE_NAME
        return response

    return middleware
