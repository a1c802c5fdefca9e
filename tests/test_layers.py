"""The package's layers, read from its import statements: the core imports no other part of
musicrnn, the codec only the core, style and the tasks only the codec and the core; no
module imports a private name of another subpackage; no circle of module-level imports.
A task's model family and objective are known to the core's registries by name, without
importing the task first."""

import ast
import functools
import json
import subprocess
import sys

from conftest import ROOT

PKG = ROOT / "musicrnn"
BELOW = {"core": set(), "codec": {"core"}, "style": {"core", "codec"}, "tasks": {"core", "codec"}}
# Imports out of the core still allowed, each marked in its file as temporary.
TEMPORARY: set = set()  # (importer, imported) pairs allowed to break the rule for now: none


@functools.lru_cache(maxsize=1)
def _imports():
    """{module: [(imported module, name or None, line, lazy)]} of every musicrnn module."""
    files = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    out = {}
    for mod, p in files.items():
        tree = ast.parse(p.read_text(), str(p))
        lazy = {id(n) for f in tree.body for n in ast.walk(f)
                if isinstance(n, (ast.Import, ast.ImportFrom)) and _inside_function(f, n)}
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(a.name, None, node.lineno, id(node) in lazy) for a in node.names
                          if a.name.split(".")[0] == "musicrnn"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if p.name == "__init__.py" else mod.split(".")[:-1]
                    src = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                if src.split(".")[0] != "musicrnn":
                    continue
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    found.append((sub, None, node.lineno, id(node) in lazy) if sub in files
                                 else (src, a.name, node.lineno, id(node) in lazy))
        out[mod] = found
    return out


def _inside_function(top, node) -> bool:
    """Whether ``node`` (somewhere under the top-level statement ``top``) sits in a function."""
    if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    return any(node in {m for m in ast.walk(f)} for f in ast.walk(top)
               if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _part(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in BELOW else ""


def test_each_subpackage_imports_only_the_layers_below_it():
    """Between subpackages (eager or lazy imports); the core imports no module of musicrnn
    outside it either (the package itself, for ``__version__``, aside)."""
    wrong = [f"{a}:{line} imports {b}" for a, found in _imports().items() if _part(a)
             for b, _, line, _ in found
             if _part(b) != _part(a) and b != "musicrnn" and (a, b) not in TEMPORARY
             and (_part(a) == "core" or _part(b) and _part(b) not in BELOW[_part(a)])]
    assert not wrong


def test_no_private_name_is_imported_from_another_subpackage():
    wrong = [f"{a}:{line} imports {b}.{name}" for a, found in _imports().items() for b, name, line, _ in found
             if name and name.startswith("_") and not name.startswith("__") and _part(a) != _part(b)]
    assert not wrong


def _circle(graph: dict):
    """An import circle in ``graph`` (a list of modules), or None."""
    done = set()

    def visit(v, path):
        if v in path:
            return path[path.index(v):] + [v]
        if v in done:
            return None
        for w in sorted(graph.get(v, ())):
            found = visit(w, path + [v])
            if found:
                return found
        done.add(v)
        return None

    return next(filter(None, (visit(v, []) for v in sorted(graph))), None)


def test_no_circle_of_imports_even_inside_functions():
    """No circle of module-level imports (which would fail to import), and none even when the
    imports made inside functions count too (the layers have a direction)."""
    eager = {a: {b for b, _, _, lazy in found if not lazy and b != a} for a, found in _imports().items()}
    every = {a: {b for b, *_ in found if b != a} for a, found in _imports().items()}
    assert "musicrnn.core.rnn" not in every["musicrnn.core.models"]
    assert _circle(eager) is None, " -> ".join(_circle(eager))
    assert _circle(every) is None, " -> ".join(_circle(every))


def test_the_voice_family_and_its_objective_are_known_without_importing_style():
    """A fresh interpreter: the registries name ``ddsp`` and ``spectral`` and load them on
    request; importing the core imports no style module; the --model choices stay the
    token families."""
    code = """if True:
        import json, sys
        from musicrnn.core import models, objectives
        assert not [m for m in sys.modules if m.startswith("musicrnn.style")]
        assert list(models.FAMILIES) == ["rnn", "transformer"]
        fam = models.family("ddsp")
        assert fam.model_class().__name__ == "VoiceModel" and fam.config_class().__name__ == "VoiceConfig"
        meta = json.load(open("checkpoints/voice-espeak-f3/config.json"))
        assert models.family_of(meta) is fam
        cfg = models.checked_config({**meta, "_folder": "checkpoints/voice-espeak-f3"})
        assert type(cfg).__name__ == "VoiceConfig"
        obj = objectives.from_dict(meta["objective"])
        assert type(obj).__name__ == "Spectral" and obj.to_dict() == meta["objective"]
        assert list(models.FAMILIES) == ["rnn", "transformer"]
        print("ok")
    """
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_a_voice_checkpoint_objective_round_trips_through_from_dict():
    from musicrnn.core.objectives import from_dict
    from musicrnn.style.voice import Spectral

    entry = json.loads((ROOT / "checkpoints" / "voice-espeak-f3" / "config.json").read_text())["objective"]
    obj = from_dict(entry)
    assert isinstance(obj, Spectral) and obj.to_dict() == entry
    assert obj.ffts == Spectral().ffts == tuple(entry["ffts"])
    assert from_dict(obj.to_dict()).to_dict() == entry
