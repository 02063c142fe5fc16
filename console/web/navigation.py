"""Which pages each role may open, read from the routes themselves, so the menu never offers a page that would
answer 403 and never hides one a role may use."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts

from console.people.models import Role


def _declared_roles(dependant) -> frozenset[Role] | None:
    for dependency in dependant.dependencies:
        roles = getattr(dependency.call, "roles", None)  # set by people.auth.require_roles
        if roles is not None:
            return roles
        found = _declared_roles(dependency)
        if found is not None:
            return found
    return None


def page_roles(app: FastAPI) -> dict[str, frozenset[Role]]:
    """GET path → the roles its route admits (routes without require_roles are left out)."""
    found: dict[str, frozenset[Role]] = {}
    for route in iter_route_contexts(app.routes):  # as the permissions test walks them
        dependant = getattr(route, "dependant", None)
        if dependant is not None and "GET" in (route.methods or ()):
            roles = _declared_roles(dependant)
            if roles is not None:
                found.setdefault(route.path, roles)
    return found


def may_open(request: Request, path: str) -> bool:
    """Whether the signed-in user's role may open the page at ``path`` (a template global)."""
    user = getattr(request.state, "user", None)
    roles = getattr(request.app.state, "page_roles", {}).get(path)
    return user is not None and roles is not None and user.role in roles
