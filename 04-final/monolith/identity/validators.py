from oauth2_provider.oauth2_validators import OAuth2Validator


class ShopValidator(OAuth2Validator):
    """DOT's validator, told that our access tokens are JWTs.

    With OpenID Connect on, oauthlib takes any `Bearer ey...` token with two dots for an ID token
    and checks it as one (DOT's validate_jwt_bearer_token), which refuses our access tokens. An
    access token is checked as an access token: by its checksum in the provider's table, so a
    revoked one is refused here at once.
    """

    def validate_jwt_bearer_token(self, token, scopes, request):
        return self.validate_bearer_token(token, scopes, request)
