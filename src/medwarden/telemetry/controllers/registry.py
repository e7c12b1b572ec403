"""An explicit registry of controller runners keyed by ``(algorithm, version)``.

Nothing is discovered: a deployment registers the runners it trusts, once each.  Registering
the same key twice is a :class:`~medwarden.errors.ConfigError` (two runners claiming one
released version would make re-computation ambiguous); looking up a key that was never
registered is one too, so a caller can report "cannot re-compute" with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from medwarden.errors import ConfigError
from medwarden.telemetry.controllers.base import Controller

__all__ = ["ControllerKey", "ControllerRegistry"]

ControllerKey = tuple[str, str]
"""``(algorithm, version)`` exactly as a device logs them."""


class ControllerRegistry:
    """Runners by ``(algorithm, version)``; closes them all on :meth:`close`."""

    __slots__ = ("_controllers",)

    def __init__(self, *controllers: Controller) -> None:
        self._controllers: dict[ControllerKey, Controller] = {}
        for controller in controllers:
            self.register(controller)

    def register(self, controller: Controller) -> None:
        """Add ``controller`` under its own key; a key already taken raises ConfigError."""
        if not isinstance(controller, Controller):
            raise ConfigError(f"{controller!r} does not implement the Controller protocol")
        key = (controller.algorithm, controller.version)
        if key in self._controllers:
            raise ConfigError(
                f"a controller for {key[0]} {key[1]} is already registered",
                hint="register each released algorithm version once",
            )
        self._controllers[key] = controller

    def get(self, algorithm: str, version: str) -> Controller:
        """The runner for ``algorithm`` ``version``; an unknown key raises ConfigError."""
        try:
            return self._controllers[(algorithm, version)]
        except KeyError:
            known = ", ".join(f"{a} {v}" for a, v in sorted(self._controllers)) or "none"
            raise ConfigError(
                f"no controller runner is registered for {algorithm!r} {version!r}",
                hint=f"registered: {known}",
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._controllers

    def __iter__(self) -> Iterator[ControllerKey]:
        return iter(sorted(self._controllers))

    def __len__(self) -> int:
        return len(self._controllers)

    def close(self) -> None:
        """Close every registered runner (each is closed even if another fails)."""
        errors: list[BaseException] = []
        for controller in self._controllers.values():
            try:
                controller.close()
            except Exception as exc:  # close all of them, then re-raise the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> ControllerRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
