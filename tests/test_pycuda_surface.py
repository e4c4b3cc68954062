"""The fake ``pycuda.driver`` held against the real one, where it can be imported.

Skips unless pycuda is installed here. pycuda has no wheel: it is compiled against the CUDA
toolkit's headers (``cuda.h``), which ``scripts/setup.sh`` does for the dev venv where
``/usr/local/cuda/include/cuda.h`` exists (see docs/jetson.md, "What has been verified",
for doing it by hand). Its extension ``pycuda/_driver*.so`` needs ``libcuda.so.1``, the
NVIDIA driver's library; on a machine without the driver this module builds a stand-in of
it with the C compiler, exporting every ``cu*`` function the extension imports (``nm -D``),
and loads it before pycuda (a library already loaded satisfies a later dependency on its
soname). The stand-in answers as a driver without a GPU: ``cuInit`` returns
``CUDA_ERROR_NO_DEVICE``, every other call ``CUDA_ERROR_NOT_INITIALIZED``, and
``cuGetErrorString`` the driver's texts. So every class, method, docstring and exception,
and every check pycuda makes itself before it calls the driver, are the real module's own.

Checked: every name edge_app and the fake use exists, with the same parameters (from
Boost.Python's docstrings) and static methods where the fake has them; the exception
hierarchy; ``device_attribute`` values; what ``init()`` raises without a GPU, what calls
before ``init()`` raise, and pycuda's own refusals (a stream without a current context,
popping an empty context stack, host buffers that are not contiguous or not writable, a
stream that is not a ``Stream``).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import inspect
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.fakes import pycuda_driver as fake

EDGE_APP_CUDA_CODE = Path(__file__).resolve().parents[1] / "edge_app/segmentation/tensorrt"

# The driver's texts (cuGetErrorString) for the codes these checks can meet.
DRIVER_TEXTS = {
    0: "no error",
    1: "invalid argument",
    2: "out of memory",
    3: "initialization error",
    34: "CUDA driver is a stub library",
    100: "no CUDA-capable device is detected",
    201: "invalid device context",
    400: "invalid resource handle",
    719: "unspecified launch failure",
}
CUDA_ERROR_NOT_INITIALIZED = 3
CUDA_ERROR_NO_DEVICE = 100


def _driver_extension() -> Path | None:
    spec = importlib.util.find_spec("pycuda")
    if spec is None or spec.origin is None:
        return None
    found = sorted(Path(spec.origin).parent.glob("_driver*.so"))
    return found[0] if found else None


def _imported_cuda_functions(extension: Path) -> list[str] | str:
    """The ``cu*`` functions the extension imports, or why they could not be listed."""
    nm = shutil.which("nm")
    if nm is None:
        return "no nm (binutils) to list the CUDA functions pycuda's extension needs"
    listed = subprocess.run(
        [nm, "-D", "--undefined-only", str(extension)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        return f"nm {extension} failed: {listed.stderr.strip()}"
    names = {line.split()[-1].split("@")[0] for line in listed.stdout.splitlines() if line}
    return sorted(name for name in names if name.startswith("cu"))


def _stand_in_source(functions: list[str]) -> str:
    texts = "".join(f'  case {code}: return "{text}";\n' for code, text in DRIVER_TEXTS.items())
    lines = [
        "static const char *text(int code) {\n  switch (code) {\n"
        + texts
        + '  default: return "unknown error";\n  }\n}',
        "int cuGetErrorString(int code, const char **out) { *out = text(code); return 0; }",
        f"int cuInit(unsigned int flags) {{ return {CUDA_ERROR_NO_DEVICE}; }}",
    ]
    lines += [
        f"int {name}(void) {{ return {CUDA_ERROR_NOT_INITIALIZED}; }}"
        for name in functions
        if name not in ("cuGetErrorString", "cuInit")
    ]
    return "\n".join(lines) + "\n"


def _load_libcuda_stand_in() -> str | None:
    """Build and load a ``libcuda.so.1`` without a GPU; None, or why it could not be."""
    extension = _driver_extension()
    if extension is None:
        return "pycuda's extension _driver*.so was not found"
    functions = _imported_cuda_functions(extension)
    if isinstance(functions, str):
        return functions
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return "no C compiler to build a stand-in of libcuda.so.1"
    folder = tempfile.mkdtemp(prefix="edge-app-libcuda-stand-in-")
    source = f"{folder}/libcuda.c"
    Path(source).write_text(_stand_in_source(functions), encoding="utf-8")
    target = f"{folder}/libcuda.so.1"
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", target, source],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        return f"building a stand-in of libcuda.so.1 failed: {built.stderr.strip()}"
    ctypes.CDLL(target, mode=ctypes.RTLD_GLOBAL)
    return None


def _import(errors: list[str]) -> ModuleType | None:
    try:
        module = importlib.import_module("pycuda.driver")
    except (ImportError, OSError) as exc:
        errors.append(f"pycuda.driver: {exc}")
        return None
    return None if module is fake else module


def _real() -> tuple[ModuleType, bool]:
    """The real ``pycuda.driver``, and whether it runs on the stand-in libcuda."""
    errors: list[str] = []
    module = _import(errors)
    stand_in = False
    if module is None and "libcuda" in errors[-1]:  # pycuda is here, the driver is not
        problem = _load_libcuda_stand_in()
        module = _import(errors) if problem is None else None
        errors += [problem] if problem else []
        stand_in = module is not None
    if module is not None:
        return module, stand_in
    pytest.skip(
        "the real pycuda cannot be imported here ("
        + "; ".join(errors)
        + "): install it to compare the fake with it (scripts/setup.sh builds it into "
        "the dev venv where /usr/local/cuda/include/cuda.h exists; see this module's "
        "docstring and docs/jetson.md)",
        allow_module_level=True,
    )


REAL, STAND_IN = _real()


@pytest.fixture
def cuda() -> ModuleType:
    fake.reset()  # one device, driver not initialised
    return REAL


FUNCTIONS = (
    "init",
    "mem_alloc",
    "pagelocked_empty",
    "memcpy_htod",
    "memcpy_htod_async",
    "memcpy_dtoh",
    "memcpy_dtoh_async",
)
CLASSES = ("Device", "Context", "DeviceAllocation", "PagelockedHostAllocation", "Stream")
EXCEPTIONS = ("Error", "LogicError", "LaunchError", "RuntimeError", "MemoryError")
# Names of the fake that exist only to drive it (not part of pycuda's surface).
FAKE_ONLY = frozenset(
    {"FakeDeviceSpec", "STATE", "reset", "current_device", "resolve", "freed", "detached"}
)


def _fake_names() -> list[str]:
    return sorted(
        name
        for name, value in vars(fake).items()
        if not name.startswith("_")
        and name not in FAKE_ONLY
        and getattr(value, "__module__", None) == fake.__name__
    )


def _edge_app_names() -> list[str]:
    """Every ``cuda.X.Y`` edge_app's CUDA code reads from pycuda.driver."""
    found = set()
    for path in sorted(EDGE_APP_CUDA_CODE.glob("*.py")):
        for match in re.finditer(r"\bcuda((?:\.[A-Za-z_]\w*)+)", path.read_text("utf-8")):
            found.add(match.group(1)[1:])
    return sorted(found)


def test_edge_app_code_uses_pycuda_driver() -> None:
    assert {"init", "Device.count", "memcpy_htod_async"} <= set(_edge_app_names())


@pytest.mark.parametrize("name", sorted({*_edge_app_names(), *_fake_names(), *FUNCTIONS}))
def test_every_name_exists(cuda: ModuleType, name: str) -> None:
    target: Any = cuda
    for part in name.split("."):
        assert hasattr(target, part), name
        target = getattr(target, part)


def _doc_parameters(member: Any) -> list[tuple[str, str | None]] | None:
    """(name, default) of each parameter in a Boost.Python docstring; None when it has none.

    ``memcpy_htod_async( (object)dest, (object)src [, (object)stream=None]) -> None :``
    """
    doc = inspect.getdoc(member) or ""
    name = getattr(member, "__name__", "")
    for line in doc.splitlines():
        match = re.match(rf"^{re.escape(name)}\((.*)\) -> ", line.strip())
        if match is None:
            continue
        found = []
        for piece in re.sub(r"[\[\]]", "", match.group(1)).split(","):
            parameter = re.match(r"^\((\w+)\)(\w+)(?:=(.*))?$", piece.strip())
            if parameter is not None:
                found.append((parameter.group(2), parameter.group(3)))
        return found
    return None


def _compare(real_member: Any, fake_member: Callable[..., Any], *, method: bool) -> None:
    real_parameters = _doc_parameters(real_member)
    assert real_parameters is not None, real_member
    if method:  # Boost.Python names self "arg1" or after its class
        real_parameters = real_parameters[1:]
    fake_parameters = [
        p for p in inspect.signature(fake_member).parameters.values() if p.name != "self"
    ]
    assert len(fake_parameters) == len(real_parameters), (real_parameters, fake_parameters)
    for (real_name, real_default), parameter in zip(real_parameters, fake_parameters, strict=True):
        if not re.fullmatch(r"arg\d+", real_name):  # unnamed in pycuda: any name fits
            assert parameter.name == real_name, (real_parameters, fake_parameters)
        fake_default = None if parameter.default is parameter.empty else repr(parameter.default)
        assert fake_default == real_default, (real_name, real_default, fake_default)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functions_take_the_same_parameters(cuda: ModuleType, name: str) -> None:
    _compare(getattr(cuda, name), getattr(fake, name), method=False)


@pytest.mark.parametrize("name", CLASSES)
def test_methods_take_the_same_parameters(cuda: ModuleType, name: str) -> None:
    real_class, fake_class = getattr(cuda, name), getattr(fake, name)
    for attr, member in vars(fake_class).items():
        if (attr.startswith("_") and attr not in ("__int__", "__index__")) or attr in FAKE_ONLY:
            continue
        assert hasattr(real_class, attr), f"{name}.{attr}"
        static = isinstance(member, staticmethod)
        real_member = getattr(real_class, attr)
        real_parameters = _doc_parameters(real_member) or []
        real_static = not real_parameters or real_parameters[0][0] not in ("arg1", "self")
        assert static == real_static, f"{name}.{attr}: static in one only"
        _compare(real_member, getattr(fake_class, attr), method=not static)


@pytest.mark.parametrize("name", ["Device", "Stream"])
def test_constructors_take_the_same_parameters(cuda: ModuleType, name: str) -> None:
    _compare(getattr(cuda, name).__init__, getattr(fake, name).__init__, method=True)


def test_a_stream_handle_is_a_property(cuda: ModuleType) -> None:
    assert isinstance(inspect.getattr_static(cuda.Stream, "handle"), property)
    fake.reset()
    fake.init()
    fake.Device(0).make_context()
    assert isinstance(fake.Stream().handle, int)


def test_exception_hierarchy_matches(cuda: ModuleType) -> None:
    for name in EXCEPTIONS:
        for other in EXCEPTIONS:
            real = issubclass(getattr(cuda, name), getattr(cuda, other))
            assert issubclass(getattr(fake, name), getattr(fake, other)) == real, (name, other)
        # pycuda's RuntimeError and MemoryError are not Python's own.
        assert getattr(cuda, name).__mro__[1:] == tuple(
            {"Error": Exception}.get(name, cuda.Error).__mro__
        )
        assert [c.__name__ for c in getattr(fake, name).__mro__] == [
            c.__name__ for c in getattr(cuda, name).__mro__
        ]


def test_device_attribute_values_match(cuda: ModuleType) -> None:
    for member in fake.device_attribute:
        real = getattr(cuda.device_attribute, member.name)
        assert isinstance(real, int) and int(real) == member.value, member.name


def _outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        call()
    except Exception as exc:
        kind = "TypeError" if isinstance(exc, TypeError) else type(exc).__name__
        return kind, str(exc)
    return "returned", ""


def test_init_without_a_gpu_raises_what_the_fake_raises(cuda: ModuleType) -> None:
    fake.reset(devices=[])
    expected = _outcome(fake.init)
    got = _outcome(cuda.init)
    if got[0] == "returned":
        pytest.skip("pycuda initialises a GPU here: nothing to compare")
    if DRIVER_TEXTS[34] in got[1]:
        pytest.skip(f"libcuda here is the CUDA toolkit's stub library ({got[1]})")
    assert got == expected == ("RuntimeError", "cuInit failed: no CUDA-capable device is detected")


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.Device.count(),
        lambda m: m.Device(0),
        lambda m: m.Context.synchronize(),
        lambda m: m.mem_alloc(16),
        lambda m: m.pagelocked_empty((2, 3), np.float32),
        lambda m: m.memcpy_htod(0x1000, np.zeros(4, np.float32)),
        lambda m: m.memcpy_htod_async(0x1000, np.zeros(4, np.float32)),
        lambda m: m.memcpy_dtoh(np.zeros(4, np.float32), 0x1000),
        lambda m: m.memcpy_dtoh_async(np.zeros(4, np.float32), 0x1000),
        lambda m: m.memcpy_htod_async(0x1000, np.zeros((4, 4), order="F")),
    ],
    ids=[
        "Device.count",
        "Device",
        "Context.synchronize",
        "mem_alloc",
        "pagelocked_empty",
        "memcpy_htod",
        "memcpy_htod_async",
        "memcpy_dtoh",
        "memcpy_dtoh_async",
        "fortran_order_copy",
    ],
)
def test_driver_calls_before_init_fail_alike(
    cuda: ModuleType, call: Callable[[ModuleType], Any]
) -> None:
    """The CUDA function named and the error class; with the stand-in, the text too."""
    got, expected = _outcome(lambda: call(cuda)), _outcome(lambda: call(fake))
    if got[0] == "returned":
        pytest.skip("the driver here answered without cuInit: nothing to compare")
    assert got[0] == expected[0] == "LogicError", (got, expected)
    assert got[1].split(" failed: ")[0] == expected[1].split(" failed: ")[0]
    if STAND_IN:
        assert got == expected


def _read_only() -> np.ndarray:
    array = np.zeros(4, np.float32)
    array.flags.writeable = False
    return array


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.Stream(),
        lambda m: m.Context.pop(),
        lambda m: m.memcpy_htod_async(0x1000, np.zeros((4, 4), np.float32)[:, 1]),
        lambda m: m.memcpy_dtoh(np.zeros((4, 4), np.float32)[:, 1], 0x1000),
        lambda m: m.memcpy_dtoh_async(_read_only(), 0x1000),
        lambda m: m.memcpy_htod(0x1000, "not a buffer"),
        lambda m: m.memcpy_htod_async(0x1000, np.zeros(4, np.float32), "not a stream"),
    ],
    ids=[
        "stream_without_context",
        "pop_empty_stack",
        "strided_source",
        "strided_destination",
        "read_only_destination",
        "not_a_buffer",
        "not_a_stream",
    ],
)
def test_pycuda_refuses_alike_before_calling_the_driver(
    cuda: ModuleType, call: Callable[[ModuleType], Any]
) -> None:
    got, expected = _outcome(lambda: call(cuda)), _outcome(lambda: call(fake))
    assert got[0] == expected[0] != "returned", (got, expected)
    if got[0] != "TypeError":  # Boost.Python's and the fake's wording differ
        assert got == expected


def test_pagelocked_memory_is_freed_through_the_arrays_base(cuda: ModuleType) -> None:
    """edge_app frees page-locked arrays with ``array.base.free()``."""
    assert _doc_parameters(cuda.PagelockedHostAllocation.free) == [("arg1", None)]
    fake.reset()
    fake.init()
    fake.Device(0).make_context()
    array = fake.pagelocked_empty((2, 3), np.float32)
    assert isinstance(array.base, fake.PagelockedHostAllocation)
    array.base.free()
    with pytest.raises(fake.LogicError, match="pagelocked_host_allocation::free failed"):
        array.base.free()
