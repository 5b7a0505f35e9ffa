"""Plain data classes at a fraction of ``dataclasses``' start-up cost.

vfioctl runs in completion handlers, VM-start hooks and exporters, where the
interpreter's start-up is most of the bill; ``@dataclasses.dataclass``
compiles ``__init__``, ``__repr__`` and ``__eq__`` for every class as its
module is imported (about 0.3 ms a class, some forty classes on the path of
one command).  :func:`dataclass` here is a drop-in for the subset vfioctl
uses — annotated fields with plain defaults or :func:`field` (``default``,
``default_factory``, ``init``, ``repr``, ``compare``), ``frozen=True``,
``slots=True``, ``__post_init__`` — and compiles a class's ``__init__`` when
the class is first instantiated; ``__repr__``, ``__eq__`` and ``__hash__``
are shared functions reading the class's field table.  Semantics follow
``dataclasses``: ``eq`` compares instances of the same class field by field
(``compare=False`` fields left out); a frozen class hashes its compared
fields and refuses assignment (``FrozenInstanceError``, an
``AttributeError``); a non-frozen class is unhashable.  :func:`fields`,
:func:`replace` and :func:`asdict` stand in for their namesakes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dataclass", "field", "fields", "replace", "asdict", "FrozenInstanceError"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_FACTORY: Any = type("_HasFactory", (), {"__repr__": lambda self: "<factory>"})()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default=MISSING, default_factory=MISSING, init=True, repr=True,
                 compare=True):
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
          repr: bool = True, compare: bool = True) -> Any:
    return Field(default, default_factory, init, repr, compare)


def _is_classvar(annotation) -> bool:
    return isinstance(annotation, str) and annotation.replace("typing.", "").startswith("ClassVar")


def dataclass(cls=None, /, *, frozen: bool = False, slots: bool = False):
    def wrap(c):
        return _process(c, frozen, slots)
    return wrap if cls is None else wrap(cls)


def _process(cls, frozen: bool, slots: bool):
    table: list[Field] = []
    for base in reversed(cls.__mro__[1:]):
        table.extend(getattr(base, "__record_fields__", ()))
    names = {f.name: i for i, f in enumerate(table)}
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        v = cls.__dict__.get(name, MISSING)
        f = v if isinstance(v, Field) else Field(default=v)
        f.name = name
        if isinstance(v, Field):
            if f.default is MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        if name in names:
            table[names[name]] = f
        else:
            names[name] = len(table)
            table.append(f)
    seen_default = False
    for f in table:
        if not f.init:
            continue
        if f.default is not MISSING or f.default_factory is not MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")

    ns = dict(cls.__dict__)
    if slots:
        ns.pop("__dict__", None)
        ns.pop("__weakref__", None)
        for f in table:
            ns.pop(f.name, None)
        ns["__slots__"] = tuple(f.name for f in table)
        cls = type(cls)(cls.__name__, cls.__bases__, ns)
    cls.__record_fields__ = tuple(table)
    cls.__record_frozen__ = frozen
    cls.__match_args__ = tuple(f.name for f in table if f.init)
    if "__init__" not in ns:
        cls.__init__ = _lazy_init(cls)
    if "__repr__" not in ns:
        cls.__repr__ = _repr
    if "__eq__" not in ns:
        cls.__eq__ = _eq
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
        if "__hash__" not in ns:
            cls.__hash__ = _hash
    elif "__hash__" not in ns:
        cls.__hash__ = None
    return cls


def _lazy_init(cls):
    def __init__(self, *args, **kwargs):
        init = _compile_init(cls)
        cls.__init__ = init
        init(self, *args, **kwargs)
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _compile_init(cls):
    table = cls.__record_fields__
    frozen = cls.__record_frozen__
    params, body = ["self"], []
    glob: dict[str, Any] = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    for f in table:
        n = f.name
        if f.default_factory is not MISSING:
            glob[f"_factory_{n}"] = f.default_factory
        if f.default is not MISSING:
            glob[f"_default_{n}"] = f.default
        if f.init:
            if f.default_factory is not MISSING:
                params.append(f"{n}=_FACTORY")
                value = f"_factory_{n}() if {n} is _FACTORY else {n}"
            elif f.default is not MISSING:
                params.append(f"{n}=_default_{n}")
                value = n
            else:
                params.append(n)
                value = n
        elif f.default_factory is not MISSING:
            value = f"_factory_{n}()"
        elif f.default is not MISSING:
            value = f"_default_{n}"
        else:
            continue
        body.append(f"_set(self, {n!r}, {value})" if frozen else f"self.{n} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    src = f"def __init__({', '.join(params)}):\n    " + ("\n    ".join(body) or "pass") + "\n"
    exec(src, glob)   # noqa: S102 - source built from the class's own field names
    init = glob["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _repr(self) -> str:
    parts = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                      for f in type(self).__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({parts})"


def _key(self) -> tuple:
    return tuple(getattr(self, f.name) for f in type(self).__record_fields__ if f.compare)


def _eq(self, other):
    if other.__class__ is self.__class__:
        return _key(self) == _key(other)
    return NotImplemented


def _hash(self) -> int:
    return hash(_key(self))


def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def fields(obj) -> tuple[Field, ...]:
    return tuple(type(obj).__record_fields__ if not isinstance(obj, type)
                 else obj.__record_fields__)


def replace(obj, **changes):
    """A copy of ``obj`` with ``changes`` (as ``dataclasses.replace``)."""
    for f in type(obj).__record_fields__:
        if f.init and f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def asdict(obj) -> Any:
    """Records (recursively, in lists, tuples and dicts) as plain dictionaries."""
    if hasattr(type(obj), "__record_fields__"):
        return {f.name: asdict(getattr(obj, f.name)) for f in type(obj).__record_fields__}
    if isinstance(obj, (list, tuple)):
        return type(obj)(asdict(v) for v in obj) if not hasattr(obj, "_fields") \
            else type(obj)(*(asdict(v) for v in obj))
    if isinstance(obj, dict):
        return {asdict(k): asdict(v) for k, v in obj.items()}
    return obj
