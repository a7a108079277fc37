"""A Python service verifying Bastion's access tokens from the issuer URL alone.

    /usr/bin/python3 test/python/verify.py <issuer> <audience> <token>...

Discovery (RFC 8414 §3): the metadata at <issuer>/.well-known/oauth-authorization-server
must name this exact issuer (§3.3); its jwks_uri goes to PyJWT's PyJWKClient, and its
access_token_signing_alg_values_supported is the algorithm allowlist (RFC 8725 §3.1).
Each token is checked for signature, iss, aud, exp, the claims Bastion always sets, and
the at+jwt type (RFC 9068 §2.1). One JSON line per token on stdout:
{"ok": true, "claims": {...}} or {"ok": false, "error": "<PyJWT exception name>"}.
Only Debian's python3-jwt (PyJWT) and python3-cryptography are needed.
"""
import json
import sys
import urllib.parse
import urllib.request

import jwt


def metadata(issuer):
    parts = urllib.parse.urlsplit(issuer)
    # RFC 8414 §3.1: the well-known path goes between the host and the issuer's path
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + parts.path.rstrip("/"), "", ""))
    with urllib.request.urlopen(url, timeout=10) as res:
        doc = json.load(res)
    if doc.get("issuer") != issuer:
        raise SystemExit(f"metadata names issuer {doc.get('issuer')!r}, not {issuer!r} (RFC 8414 §3.3)")
    return doc


def main():
    issuer, audience, tokens = sys.argv[1], sys.argv[2], sys.argv[3:]
    doc = metadata(issuer)
    algorithms = [a for a in doc["access_token_signing_alg_values_supported"] if not a.startswith("HS") and a != "none"]
    keys = jwt.PyJWKClient(doc["jwks_uri"])
    for token in tokens:
        try:
            if jwt.get_unverified_header(token).get("typ") != "at+jwt":
                raise jwt.InvalidTokenError("not an access token (typ)")
            key = keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algorithms,
                audience=audience,
                issuer=issuer,
                options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]},
            )
            print(json.dumps({"ok": True, "alg": jwt.get_unverified_header(token)["alg"], "claims": claims}))
        except jwt.PyJWTError as err:
            print(json.dumps({"ok": False, "error": type(err).__name__}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
