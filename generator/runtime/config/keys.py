"""The vocabulary of the config schema: a `Key` (name, kind, default, range, choices, meaning)
and how each kind reads in a message."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["int", "number", "bool", "str", "str_list", "section", "shapes", "any"]


@dataclass(frozen=True)
class Key:
    """One config key: its type (`kind`), default, range and meaning."""

    name: str
    kind: Kind
    default: Any
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    #: True when `minimum` itself is not allowed (`> minimum` instead of `>= minimum`).
    exclusive_minimum: bool = False
    choices: tuple[Any, ...] | None = None
    #: True when an explicit YAML null is accepted (always true for a `None` default).
    nullable: bool = False
    #: True for keys this runtime adds to Paddle Serving's schema.
    extension: bool = False
    #: True when a string value is lower-cased before the `choices` check (`precision`).
    lowercase: bool = False

    @property
    def accepts_none(self) -> bool:
        """Whether `null` is a valid value."""
        return self.nullable or self.default is None

    def fresh_default(self) -> Any:
        """The default value, copied so callers can mutate it safely."""
        return copy.deepcopy(self.default)

    def expected(self) -> str:
        """The phrase used in error messages: 'an integer >= 1', 'true or false', ..."""
        if self.choices is not None:
            text = "one of " + ", ".join(_show(c) for c in self.choices)
        elif self.kind in ("int", "number"):
            text = "an integer" if self.kind == "int" else "a number"
            if self.minimum is not None and self.maximum is not None:
                text += f" in {_num(self.minimum)}..{_num(self.maximum)}"
            elif self.minimum is not None:
                text += f" {'>' if self.exclusive_minimum else '>='} {_num(self.minimum)}"
        else:
            text = _KIND_PHRASES[self.kind]
        if self.accepts_none and self.kind not in ("section", "any"):
            text += " or null"
        return text


_KIND_PHRASES: dict[str, str] = {
    "bool": "true or false",
    "str": "a string",
    "str_list": "a list of strings",
    "section": "a mapping",
    "shapes": "a mapping of input name to a list of positive integers",
    "any": "any value",
}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
