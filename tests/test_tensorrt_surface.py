"""The fake TensorRT held against the real bindings, where they can be imported.

Skips unless a real ``tensorrt`` (JetPack's python3-libnvinfer) or the TensorRT 10 bindings
wheel (``pip install 'tensorrt-cu12-bindings==10.3.*'``, module ``tensorrt_bindings``) loads
here. The bindings need TensorRT's native libraries only for a handful of C factory
functions, so on a machine without them they can be loaded against stand-ins of those
libraries whose factories return nothing (``LD_LIBRARY_PATH`` to them): then every class,
method, enum and the ``TypeError`` of ``Runtime``/``Builder`` without a GPU are the real
module's own. The 10.3 bindings need ``libnvinfer.so.10`` (``createInferBuilder_INTERNAL``,
``createInferRuntime_INTERNAL``, ``createInferRefitter_INTERNAL``, ``getPluginRegistry``,
``getBuilderPluginRegistry``), ``libnvonnxparser.so.10`` (``createNvOnnxParser_INTERNAL``,
``createNvOnnxParserRefitter_INTERNAL``, ``getNvOnnxParserVersion``) and
``libnvinfer_plugin.so.10`` (``initLibNvInferPlugins``): C functions returning 0 do.
Checked: every name edge_app and the fake use exists, with the same parameter names; enum
members and values; ``Dims``, ``IHostMemory`` and enum behaviour; ``nptype``.

The dev extra installs the bindings wheel on x86-64, and where the native libraries are
missing this module builds those stand-ins itself with the C compiler and loads them before
the bindings (a library already loaded satisfies a later dependency on its soname), so CI
compares the fake with the real module rather than skipping.
"""

from __future__ import annotations

import ctypes
import importlib
import inspect
import re
import shutil
import subprocess
import tempfile
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.fakes import tensorrt as fake

# The C entry points each TensorRT 10 native library must export for the bindings to load.
NATIVE_STAND_INS = {
    "libnvinfer.so.10": (
        "createInferBuilder_INTERNAL",
        "createInferRuntime_INTERNAL",
        "createInferRefitter_INTERNAL",
        "getPluginRegistry",
        "getBuilderPluginRegistry",
    ),
    "libnvonnxparser.so.10": (
        "createNvOnnxParser_INTERNAL",
        "createNvOnnxParserRefitter_INTERNAL",
        "getNvOnnxParserVersion",
    ),
    "libnvinfer_plugin.so.10": ("initLibNvInferPlugins",),
}


def _load_native_stand_ins() -> str | None:
    """Build and load libraries whose factories return nothing; None, or why they could not."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return "no C compiler to build stand-ins of TensorRT's native libraries"
    folder = tempfile.mkdtemp(prefix="edge-app-trt-stand-ins-")
    for soname, functions in NATIVE_STAND_INS.items():
        source = f"{folder}/{soname}.c"
        with open(source, "w", encoding="utf-8") as out:
            out.writelines(f"void *{name}(void) {{ return 0; }}\n" for name in functions)
        built = subprocess.run(
            [
                compiler,
                "-shared",
                "-fPIC",
                f"-Wl,-soname,{soname}",
                "-o",
                f"{folder}/{soname}",
                source,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if built.returncode != 0:
            return f"building a stand-in of {soname} failed: {built.stderr.strip()}"
        ctypes.CDLL(f"{folder}/{soname}", mode=ctypes.RTLD_GLOBAL)
    return None


def _import(name: str, errors: list[str]) -> ModuleType | None:
    try:
        module = importlib.import_module(name)
    except (ImportError, OSError) as exc:
        errors.append(f"{name}: {exc}")
        return None
    return None if module is fake else module


def _real() -> ModuleType:
    errors: list[str] = []
    module = _import("tensorrt", errors) or _import("tensorrt_bindings", errors)
    if module is None and "libnv" in errors[-1]:  # the wheel is here, its libraries are not
        problem = _load_native_stand_ins()
        module = _import("tensorrt_bindings", errors) if problem is None else None
        errors += [problem] if problem else []
    if module is not None:
        return module
    pytest.skip(
        "the real TensorRT bindings cannot be imported here ("
        + "; ".join(errors)
        + "): install them to compare the fake with them (see this module's docstring)",
        allow_module_level=True,
    )


REAL = _real()


@pytest.fixture(scope="module")
def trt() -> ModuleType:
    fake.reset(version="10.3.0")
    return REAL


CLASSES = (
    "Builder",
    "Runtime",
    "IBuilderConfig",
    "INetworkDefinition",
    "OnnxParser",
    "ParserError",
    "IOptimizationProfile",
    "ICudaEngine",
    "IExecutionContext",
    "ILogger",
    "Logger",
    "IProgressMonitor",
    "IInt8Calibrator",
    "IInt8EntropyCalibrator2",
    "IHostMemory",
    "Dims",
)
ENUMS = (
    "DataType",
    "TensorIOMode",
    "MemoryPoolType",
    "BuilderFlag",
    "NetworkDefinitionCreationFlag",
)
FUNCTIONS = ("nptype", "volume", "init_libnvinfer_plugins")
# Names of the fake that exist only to drive it (not part of TensorRT's surface).
FAKE_ONLY = frozenset({"get_output", "num_outputs", "clear_errors", "run", "get_shape"})


def _doc_parameters(member: Any) -> list[list[str]] | None:
    """Parameter names of each overload in a pybind11 docstring; None when it has none."""
    doc = inspect.getdoc(member) or ""
    name = getattr(member, "__name__", "")
    found = []
    for line in doc.splitlines():
        match = re.match(rf"^(?:\d+\. )?{re.escape(name)}\((.*)\) -> ", line)
        if match is None:
            continue
        params = []
        depth, current = 0, ""
        for char in match.group(1) + ",":
            if char in "([<{":
                depth += 1
            elif char in ")]>}":
                depth -= 1
            if char == "," and depth == 0:
                params.append(current.strip().split(":")[0].strip())
                current = ""
            else:
                current += char
        found.append([p for p in params if p and p not in ("self", "*args", "**kwargs")])
    return found or None


def _fake_parameters(member: Any) -> list[str]:
    return [p for p in inspect.signature(member).parameters if p != "self"]


@pytest.mark.parametrize("name", [*CLASSES, *ENUMS, *FUNCTIONS, "__version__"])
def test_every_name_exists(trt: ModuleType, name: str) -> None:
    assert hasattr(trt, name), name


@pytest.mark.parametrize("name", CLASSES)
def test_methods_and_parameters_match(trt: ModuleType, name: str) -> None:
    real_class, fake_class = getattr(trt, name), getattr(fake, name)
    for attr, member in vars(fake_class).items():
        if attr.startswith("_") or attr in FAKE_ONLY or attr in ("INTERNAL_ERROR", "Severity"):
            continue
        assert hasattr(real_class, attr), f"{name}.{attr}"
        if not callable(member) or isinstance(member, property):
            continue
        overloads = _doc_parameters(getattr(real_class, attr))
        if overloads is None:  # e.g. "set_input_shape(*args, **kwargs)": nothing to compare
            continue
        assert _fake_parameters(member) in overloads, (name, attr, overloads)


@pytest.mark.parametrize("name", ["Builder", "Runtime", "OnnxParser", "ILogger", "Logger"])
def test_constructors_take_the_same_parameters(trt: ModuleType, name: str) -> None:
    overloads = _doc_parameters(getattr(trt, name).__init__)
    assert overloads is not None
    assert _fake_parameters(getattr(fake, name).__init__) in overloads


@pytest.mark.parametrize("name", ENUMS)
def test_enum_members_and_values(trt: ModuleType, name: str) -> None:
    real_enum, fake_enum = getattr(trt, name), getattr(fake, name)
    real_members = {k: int(v) for k, v in real_enum.__members__.items()}
    for member in fake_enum:
        assert real_members.get(member.name) == member.value, (name, member.name)
    severity = {k: int(v) for k, v in trt.ILogger.Severity.__members__.items()}
    assert severity == {m.name: m.value for m in fake.ILogger.Severity}


def test_enums_convert_with_int_but_are_not_ints(trt: ModuleType) -> None:
    for module in (trt, fake):
        flag = module.BuilderFlag.INT8
        assert int(flag) == int(module.BuilderFlag.INT8) and flag != int(flag)
        assert module.DataType.FLOAT.name == "FLOAT"


def test_dims_behave_alike(trt: ModuleType) -> None:
    for module in (trt, fake):
        dims = module.Dims([1, -1, 3])
        assert len(dims) == 3 and dims[1] == -1 and list(dims) == [1, -1, 3]
        assert dims == (1, -1, 3) and dims == [1, -1, 3]
        assert dims[1:] == (-1, 3) and not isinstance(dims, tuple)
        with pytest.raises(TypeError):
            hash(dims)
        with pytest.raises(TypeError):
            dims + (1,)  # noqa: RUF005


def test_host_memory_is_a_buffer_with_nbytes_and_dtype(trt: ModuleType) -> None:
    public = {a for a in dir(trt.IHostMemory) if not a.startswith("_")}
    assert public == {"nbytes", "dtype"}
    memory = fake.IHostMemory(b"\x01\x02\x03")
    assert bytes(memoryview(memory)) == b"\x01\x02\x03" and memory.nbytes == 3
    assert {a for a in dir(memory) if not a.startswith("_")} >= public
    with pytest.raises(TypeError):
        len(memory)
    with pytest.raises(AttributeError):
        memory.decode()  # type: ignore[attr-defined]


def test_nptype_maps_the_same_types(trt: ModuleType) -> None:
    for member in fake.DataType:
        real_type = getattr(trt.DataType, member.name)
        try:
            expected: Any = trt.nptype(real_type)
        except TypeError:
            expected = TypeError
        try:
            got: Any = fake.nptype(member)
        except TypeError:
            got = TypeError
        assert got == expected or np.dtype(got) == np.dtype(expected), member.name


def test_runtime_and_builder_without_a_usable_gpu_raise_type_error(trt: ModuleType) -> None:
    messages: list[str] = []

    class Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            messages.append(msg)

    for factory in (trt.Runtime, trt.Builder):
        try:
            created = factory(Logger())
        except TypeError as exc:
            assert str(exc) == fake.NULLPTR
        else:
            del created
            pytest.skip("TensorRT can use a GPU here: nothing to compare")
