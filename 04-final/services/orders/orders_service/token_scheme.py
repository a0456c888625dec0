"""How the schema describes this service's token check (orders.customers), for drf-spectacular.

Without it drf-spectacular cannot tell what MonolithTokenAuthentication expects, and leaves
`security` off every orders operation: Swagger's "Try it out" then sends no token and gets 401.
The scheme has the monolith's name, `tokenAuth`, so the document the monolith stitches together
(shop/schema.py) names one scheme for the whole shop. Imported by orders_service/urls.py, before
any schema is generated.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class MonolithTokenScheme(OpenApiAuthenticationExtension):
    target_class = "orders.customers.MonolithTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"',
        }
