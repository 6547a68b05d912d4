"""The house's structure, read from the code. Three layers: the house modules (core, descriptions, runs, parallel,
graph, training, cli, ...), the physics libraries stages share (`wave`: the propagator, velocity models, waveform
datasets), and the stages (volcano, glacier, seismic, fwi, velnet). The modules' imports form no cycle, no stage
imports another stage, a library imports no stage, the house imports neither; and the plug-in tables in
settings.ini are the ones the package falls back on."""
import ast
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).parent.parent
PKG = ROOT / 'geoinversion'
STAGES = {'volcano', 'glacier', 'seismic', 'fwi', 'velnet'}
LIBRARIES = {'wave'}

def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)

def imports(path: Path) -> set:
    "Every geoinversion module `path` imports, at the top or inside a function (relative imports resolved)."
    me = module_name(path).split('.')
    package = me if path.name == '__init__.py' else me[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split('.')[0] == 'geoinversion'}
        elif isinstance(node, ast.ImportFrom):
            base = (package[:len(package) - node.level + 1] if node.level else []) + (node.module.split('.') if node.module else [])
            if not base or base[0] != 'geoinversion': continue
            name = '.'.join(base)
            for a in node.names:   # `from geoinversion.wave import stencils` imports a module
                sub = f'{name}.{a.name}'
                out.add(sub if (PKG.parent / (sub.replace('.', '/') + '.py')).exists() else name)
    return {m for m in out if m != module_name(path)}

def graph() -> dict:
    files = [p for p in PKG.rglob('*.py') if p.name != '_modidx.py' and '__pycache__' not in p.parts]
    known = {module_name(p) for p in files}
    return {module_name(p): {m for m in imports(p) if m in known} for p in files}

def stage(module: str):
    parts = module.split('.')
    return parts[1] if len(parts) > 2 and parts[1] in STAGES else None

def library(module: str):
    parts = module.split('.')
    return parts[1] if len(parts) > 2 and parts[1] in LIBRARIES else None

def cycles(g: dict) -> list:
    "Strongly connected components of more than one module (Tarjan)."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in g[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in g:
        if v not in index: visit(v)
    return out

def test_the_import_graph_is_read():
    g = graph()
    assert 'geoinversion.wave.stencils' in g['geoinversion.wave.kernels']
    assert 'geoinversion.training' in g['geoinversion.glacier.train']
    assert len(g) >= 30

def test_no_import_cycle():
    assert cycles(graph()) == []

def test_the_cycle_finder_finds_one():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]

def test_no_stage_imports_another_stage():
    bad = [(m, d) for m, deps in graph().items() for d in deps if stage(m) and stage(d) and stage(d) != stage(m)]
    assert not bad, bad

def test_house_modules_import_no_stage_and_libraries_no_stage():
    bad = [(m, d) for m, deps in graph().items() for d in deps if not stage(m) and stage(d)]
    assert not bad, bad

def test_house_modules_import_no_library():
    bad = [(m, d) for m, deps in graph().items() for d in deps if not stage(m) and not library(m) and library(d)]
    assert not bad, bad

def test_the_package_import_is_light():
    assert graph()['geoinversion'] <= {'geoinversion.core'}

def test_entry_points_match_the_built_in_tables():
    from geoinversion import core
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    declared = {}
    for line in cfg['DEFAULT']['entry_points'].strip().splitlines():
        group, _, entries = line.partition(':')
        declared[group.strip()] = dict(e.split('=') for e in entries.split())
    assert declared == core._BUILTIN
    for group in declared.values():
        for module in group.values():
            assert (ROOT / (module.replace('.', '/') + '.py')).exists(), module
    assert core.plugins(core.COMMANDS) == core._BUILTIN[core.COMMANDS]   # the installed metadata says the same
