"""Authentication of agents: verifying their tokens and who those tokens name.

`principal` is light and used by every route. `verifier`, `tokens` and `keys` load
PyJWT, cryptography and powertools' parameters, so only the authorizer imports them.
"""
