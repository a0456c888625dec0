"""WSGI entry point: waitress serves `application` (see the stage's stage.toml)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")


def head_without_body(app):
    """Answer HEAD with the GET answer's headers and no body: waitress leaves that to us.

    RFC 9110 (9.3.2): a HEAD answer has no content. Django's WSGI handler renders HEAD like GET,
    body included, and leaves the cut to the server (its runserver and test client make it, so
    the tests never saw this); waitress leaves it to the application, and sends whatever body it
    is given right after the headers. A keep-alive client such as the facade then reads that
    page as the start of the next answer and fails with "bad status line".
    """

    def application(environ, start_response):
        if environ.get("REQUEST_METHOD") != "HEAD":
            return app(environ, start_response)
        answer = []

        def hold(status, headers, exc_info=None):
            answer[:] = [status, headers, exc_info]
            return lambda data: None  # PEP 3333's write(): nothing to send for a HEAD

        body = app(environ, hold)
        try:
            # Without a Content-Length waitress would frame the empty answer as chunked, and its
            # closing "0\r\n\r\n" is a body too: count what GET would send and say so instead.
            length = None if answer and _has_length(answer[1]) else sum(map(len, body))
        finally:
            if hasattr(body, "close"):
                body.close()  # Django's request_finished: the database connection goes back
        status, headers, exc_info = answer
        if length is not None:
            headers = [*headers, ("Content-Length", str(length))]
        start_response(status, headers, exc_info)
        return []

    return application


def _has_length(headers):
    return any(name.lower() == "content-length" for name, _ in headers)


application = head_without_body(get_wsgi_application())
