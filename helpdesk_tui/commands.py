"""The command palette provider: every action of the registry, by name, for the current screen."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from helpdesk_tui.actions import ActionSpec, for_scope
from helpdesk_tui.screens.help import key_text


class ActionsProvider(Provider):
    """Lists the actions of the screen under the palette, then the app-wide ones."""

    def _specs(self) -> list[ActionSpec]:
        """The screen's actions it allows now (``check_action``), then the app-wide ones."""
        scope = getattr(self.screen, "SCOPE", "app")
        specs = [
            s for s in (for_scope(scope) if scope != "app" else [])
            if self.screen.check_action(s.action.split("(")[0], ()) is not False
        ]  # fmt: skip
        return specs + [s for s in for_scope("app") if s.action != "command_palette"]

    async def _run(self, spec: ActionSpec) -> None:
        target = self.app if spec.scope == "app" else self.screen
        await target.run_action(spec.action)

    def _title(self, spec: ActionSpec) -> str:
        keymap = getattr(self.app, "keymap", None)
        return f"{spec.title or spec.label} ({key_text(spec, keymap)})"

    async def discover(self) -> Hits:
        for spec in self._specs():
            yield DiscoveryHit(
                Text(self._title(spec)), partial(self._run, spec), text=self._title(spec),
                help=spec.help,
            )  # fmt: skip

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for spec in self._specs():
            title = self._title(spec)
            score = max(matcher.match(title), matcher.match(spec.help) * 0.8)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(title), partial(self._run, spec), text=title,
                    help=spec.help,
                )  # fmt: skip
