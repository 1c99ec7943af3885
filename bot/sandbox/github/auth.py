"""The sandbox GitHub's auth checks: the App JWT as GitHub checks it (RS256, iss, iat, exp) and
installation tokens scoped to their installation's repositories."""

from __future__ import annotations

import time

import jwt
from aiohttp import web

from bot.sandbox.github.state import JSONDict, Repo, SandboxState, _ApiError, _not_found, _now


class Auth(SandboxState):
    def _check_jwt(self, request: web.Request) -> None:
        """GitHub's App JWT rules: RS256 by the App key, iss = app id, iat/exp sane, <= 10 min."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or token.startswith("ghs_"):
            raise _ApiError(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self._public_key_pem,
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise _ApiError(401, "A JSON web token could not be decoded") from None
        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not isinstance(iat, int | float) or iat > now + 60:
            raise _ApiError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
            )
        if not isinstance(exp, int | float) or exp <= now:
            raise _ApiError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            )
        if exp - iat > 660:
            raise _ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
        if str(iss) != str(self.app_id):
            raise _ApiError(401, "'Issuer' claim ('iss') must be an Integer")

    def _installation_of(self, request: web.Request) -> int:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token:
            raise _ApiError(401, "Requires authentication")
        entry = self._tokens.get(token) if scheme.lower() in ("token", "bearer") else None
        if entry is None or entry[1] <= _now():
            raise _ApiError(401, "Bad credentials")
        return entry[0]

    def _repo(self, request: web.Request) -> Repo:
        installation_id = self._installation_of(request)
        name = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        repo = self._repos.get(name)
        if repo is None or repo.installation_id != installation_id:
            raise _not_found()
        return repo

    def _number(self, request: web.Request, repo: Repo, *, pull: bool = False) -> int:
        number = int(request.match_info["number"])
        if number not in (repo.pulls if pull else repo.issues):
            raise _not_found()
        return number

    def _comment(self, request: web.Request, repo: Repo) -> tuple[int, JSONDict]:
        entry = self._comments.get(int(request.match_info["comment_id"]))
        if entry is None or entry[0] != repo.full_name.lower():
            raise _not_found()
        return entry[1], entry[2]
