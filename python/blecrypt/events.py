"""One event model for every protocol engine (see docs/python.md, "Events").

Every event an engine reports reaches Python as an immutable dataclass deriving from
:class:`Event`: ``blecrypt.bluetti.Established``, ``blecrypt.sesame.CommandResult``,
``blecrypt.channel.DataReceived`` ... Each module names its classes after the structs of its C++
``<module>::events`` namespace, and each class's ``kind`` is that name in snake_case (SESAME's
keep their published names; ``kind`` is the C++ one). The native bindings build these objects
directly from the C++ event variant: there is no intermediate dict or tuple.

Events compare by value, are frozen (assigning an attribute raises
``dataclasses.FrozenInstanceError``) and have no ``__dict__`` on Python 3.10 and later (slots).
Dispatch on the class::

    for ev in client.events():
        if isinstance(ev, bluetti.Response):
            print(ev.address, ev.values)
"""

from __future__ import annotations

import re
import sys
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, ClassVar, Dict, Optional

# Every event class is declared `@dataclass(frozen=True, **SLOTS)`: slots where the interpreter has
# them (3.10+; pyproject allows 3.9, where events keep a __dict__ but stay frozen).
SLOTS: Dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, **SLOTS)
class Event:
    """Base of every engine event. ``kind`` is the C++ event's name in snake_case ("established",
    "data_received", "session_ended", ...), the same for every instance of a class."""

    kind: ClassVar[str] = "event"

    def __init_subclass__(cls, kind: Optional[str] = None, **kwargs: Any) -> None:
        # No zero-argument super() here: @dataclass(slots=True) re-creates the class, which the
        # implicit __class__ cell would not follow. object.__init_subclass__ takes no arguments.
        if kwargs:
            raise TypeError(f"unexpected class arguments {sorted(kwargs)}")
        if kind is not None:
            cls.kind = kind
        elif "kind" not in cls.__dict__:  # the slots copy keeps the kind of the first pass
            cls.kind = _snake(cls.__name__)
        if "__slots__" in cls.__dict__ and "__setattr__" in cls.__dict__:
            # The slots copy of a frozen dataclass: its generated __setattr__/__delattr__ still
            # name the first class, so on 3.10/3.11 assigning an attribute that is not a field
            # (`kind`, a typo) raises a confusing TypeError from super(). Refuse every assignment
            # the way a frozen dataclass does (__init__ sets the fields with object.__setattr__).
            setattr(cls, "__setattr__", _refuse_assignment)
            setattr(cls, "__delattr__", _refuse_assignment)


def _refuse_assignment(self: Event, name: str, value: Any = None) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r} of an event ({type(self).__name__} is frozen)")


__all__ = ["Event", "SLOTS"]
