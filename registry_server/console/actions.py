"""The actions: the same domain calls as the RPCs, with the same rules.

Each POST is checked for CSRF first, then runs as the viewer. A refusal is
shown on the page the form came from, with the current state (a conflict
shows what the alias points at now), and written to the history as the
gRPC interceptor writes it. Moving a protected alias or changing a protected
stage first asks for confirmation (a second POST with `confirm=yes`).

An alias move always sends the version the page showed as `expected`: the
compare-and-swap of `registry aliases set --expect`, so a page that went
stale cannot overwrite a newer move.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from registry_server.console.auth import FORM_EXPIRED, sign_in_first
from registry_server.console.pages import Pages
from registry_server.console.services import ConsoleServices
from registry_server.console.web import (
    HTTP_STATUS,
    ConsoleContext,
    check_csrf,
    path_part,
    redirect,
    render,
    viewer,
)
from registry_server.domain import validation
from registry_server.domain.access import AccessDenied, Caller, HiddenModel
from registry_server.domain.entities import Stage
from registry_server.domain.errors import InvalidArgument, RegistryError


def _field(form: Mapping[str, Any], name: str, limit: int = 10_000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: expected text")
    if len(value) > limit:
        raise InvalidArgument(f"{name}: at most {limit} characters")
    return value


def _number(form: Mapping[str, Any], name: str) -> int:
    text = _field(form, name, 20).strip()
    if not (text.isascii() and text.isdigit()):
        raise InvalidArgument(f"{name}: expected a version number, got {text[:20]!r}")
    return int(text)


class Actions:
    def __init__(self, services: ConsoleServices, pages: Pages) -> None:
        self.s = services
        self.pages = pages

    async def _run(
        self,
        request: Request,
        change: Callable[[Caller, Mapping[str, Any]], str | Response],
        on_error: Callable[[Caller], dict[str, Any]],
        template: str,
    ) -> Response:
        """CSRF, the viewer, then `change` (in a thread: it blocks on the
        database); it returns where to go next, or a page (a confirmation)."""
        form = await check_csrf(request)
        if form is None:
            return render(request, "error.html", {"title": "Refused", "message": FORM_EXPIRED}, 403)
        caller = await run_in_threadpool(viewer, request)
        if caller is None:
            return sign_in_first(request)
        request.state.caller = caller
        console: ConsoleContext = request.app.state.console
        try:
            outcome = await run_in_threadpool(change, caller, form)
        except RegistryError as refused:
            if isinstance(refused, AccessDenied):
                await run_in_threadpool(console.access.record_denial, refused)
            elif isinstance(refused, HiddenModel):
                raise  # a 404 page; app.py's handler records the refusal
            context = await run_in_threadpool(on_error, caller)
            context["problem"] = refused.message
            context["conflict"] = refused.code == "FAILED_PRECONDITION"
            return render(request, template, context, HTTP_STATUS.get(refused.code, 400))
        if isinstance(outcome, Response):
            return outcome
        return redirect(outcome)

    # ------------------------------------------------------------ model

    def _model_url(self, name: str, done: str) -> str:
        return f"/models/{path_part(name)}?" + urllib.parse.urlencode({"done": done})

    def _version_url(self, name: str, version: int, done: str) -> str:
        return f"/models/{path_part(name)}/versions/{version}?" + urllib.parse.urlencode(
            {"done": done}
        )

    def _confirm(
        self, request: Request, form: Mapping[str, Any], question: str, back: str
    ) -> Response:
        fields = [(k, v) for k, v in form.items() if k not in ("csrf", "confirm")]
        return render(
            request,
            "confirm.html",
            {
                "title": "Confirm",
                "question": question,
                "action": request.url.path,
                "fields": fields,
                "back": back,
                "live_name": "",
            },
        )

    async def move_alias(self, request: Request) -> Response:
        name: str = request.path_params["name"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str | Response:
            alias = _field(form, "alias", 300).strip()
            validation.alias(alias)
            if form.get("delete") == "yes":
                model = self.s.registry.get_registered_model(name, caller)
                if alias in model.protected_aliases and form.get("confirm") != "yes":
                    return self._confirm(
                        request,
                        form,
                        f"@{alias} is a protected alias of {name}. Remove it?",
                        f"/models/{path_part(name)}",
                    )
                self.s.registry.delete_registered_model_alias(name, alias, caller)
                return self._model_url(name, "alias-deleted")
            version = _number(form, "version")
            expected_text = _field(form, "expected", 20).strip()
            expected = (
                int(expected_text) if expected_text.isascii() and expected_text.isdigit() else 0
            )
            model = self.s.registry.get_registered_model(name, caller)
            if alias in model.protected_aliases and form.get("confirm") != "yes":
                return self._confirm(
                    request,
                    form,
                    f"@{alias} is a protected alias of {name}. Point it at version {version}?",
                    f"/models/{path_part(name)}",
                )
            self.s.registry.set_registered_model_alias(name, alias, version, expected, caller)
            return self._model_url(name, "alias")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.model_context(request, name, caller),
            "model.html",
        )

    async def model_description(self, request: Request) -> Response:
        name: str = request.path_params["name"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str:
            text = _field(form, "description", 100_000).replace("\r\n", "\n")
            self.s.registry.update_registered_model(name, text, caller)
            return self._model_url(name, "description")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.model_context(request, name, caller),
            "model.html",
        )

    async def model_tag(self, request: Request) -> Response:
        name: str = request.path_params["name"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str:
            key = _field(form, "key", 1000)
            if form.get("delete") == "yes":
                self.s.registry.delete_registered_model_tag(name, key, caller)
                return self._model_url(name, "tag-deleted")
            value = _field(form, "value", 100_000)
            self.s.registry.set_registered_model_tag(name, key, value, caller)
            return self._model_url(name, "tag")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.model_context(request, name, caller),
            "model.html",
        )

    # ---------------------------------------------------------- version

    async def transition(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        number: int = request.path_params["version"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str | Response:
            target = validation.stage(_field(form, "stage", 40))
            archive = form.get("archive") == "yes"
            model = self.s.registry.get_registered_model(name, caller)
            current = self.s.registry.get_model_version(name, number, caller).stage
            touched = {current.value, target.value}
            if archive:
                touched.add(Stage.ARCHIVED.value)
            protected = sorted(touched & set(model.protected_stages))
            if protected and form.get("confirm") != "yes":
                return self._confirm(
                    request,
                    form,
                    f"{', '.join(protected)} is protected on {name}. Move version {number} "
                    f"from {current.value} to {target.value}?",
                    f"/models/{path_part(name)}/versions/{number}",
                )
            self.s.registry.transition_model_version_stage(
                name, number, target.value, archive, caller
            )
            return self._version_url(name, number, "stage")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.version_context(name, number, caller),
            "version.html",
        )

    async def version_description(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        number: int = request.path_params["version"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str:
            text = _field(form, "description", 100_000).replace("\r\n", "\n")
            self.s.registry.update_model_version(name, number, text, caller)
            return self._version_url(name, number, "description")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.version_context(name, number, caller),
            "version.html",
        )

    async def version_tag(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        number: int = request.path_params["version"]

        def change(caller: Caller, form: Mapping[str, Any]) -> str:
            key = _field(form, "key", 1000)
            if form.get("delete") == "yes":
                self.s.registry.delete_model_version_tag(name, number, key, caller)
                return self._version_url(name, number, "tag-deleted")
            value = _field(form, "value", 100_000)
            self.s.registry.set_model_version_tag(name, number, key, value, caller)
            return self._version_url(name, number, "tag")

        return await self._run(
            request,
            change,
            lambda caller: self.pages.version_context(name, number, caller),
            "version.html",
        )
