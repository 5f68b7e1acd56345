"""deploy/Dockerfile and .dockerignore, read the way Docker reads them, without Docker.

- ``Dockerfile``: the stages (``FROM <stage> AS name`` inherits an earlier stage), ARG and
  ENV with Docker's ``$VAR``/``${VAR}``/``${VAR:-x}``/``${VAR:+x}`` substitution in the
  instructions that get it (ENV, COPY, ADD, WORKDIR, USER, EXPOSE), and per target the
  image that results: env, user, workdir, ports, CMD/ENTRYPOINT and what COPY puts where.
- ``DockerIgnore``: the rules of Docker's own matcher (github.com/moby/patternmatcher and its
  ignorefile reader, used by BuildKit): comment lines start with ``#``; each line is
  trimmed and cleaned (``filepath.Clean``, leading ``/`` dropped); ``!`` makes an exception;
  ``*`` and ``?`` never cross a ``/``, ``**`` crosses any number of directories (``**/x``
  also matches ``x`` at the top); a pattern matches a path or any of its parent dirs; the
  last pattern that matches decides.

Only what deploy/Dockerfile uses is supported; anything else fails loudly (a ValueError
naming the instruction), so a new feature there is noticed here, not silently misread.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Docker's variable forms: \$ (a literal $), ${VAR}, ${VAR:-default}, ${VAR:+alternative}, $VAR.
_VARIABLE = re.compile(r"\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_GLOB = re.compile(r"[*?\[]")


def substitute(text: str, variables: dict[str, str]) -> str:
    """Docker's (and, for these forms, sh's) variable expansion; an unset variable is empty."""
    def one(m: re.Match) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group(1) or m.group(4)
        value = variables.get(name, "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value
    return _VARIABLE.sub(one, text)


# ---- Dockerfile -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str     # the rest, continuation lines joined
    line: int

    def json_args(self) -> list[str] | None:
        """The exec (JSON array) form's words, or None for the shell form."""
        if self.args.startswith("["):
            try:
                words = json.loads(self.args)
            except json.JSONDecodeError:
                return None  # Docker too falls back to the shell form
            if isinstance(words, list) and all(isinstance(w, str) for w in words):
                return words
        return None


def parse_instructions(text: str) -> list[Instruction]:
    found: list[Instruction] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank and comment lines, also in the middle of a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, *rest = re.split(r"\s+", pending + stripped, maxsplit=1)
        found.append(Instruction(keyword.upper(), rest[0].strip() if rest else "", start))
        pending = ""
    if pending:
        raise ValueError("the Dockerfile ends inside a continuation line")
    return found


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]  # relative to the build context
    dest: str                 # absolute in the image
    flags: dict[str, str]
    instruction: Instruction


@dataclass
class Image:
    """What a target's image is made of, as far as these tests need."""
    target: str
    stages: list[Stage]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str = "/"
    expose: set[int] = field(default_factory=set)
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # RUN commands, unexpanded (their shell expands them)

    @property
    def base(self) -> str:
        """The image the target's first stage starts FROM."""
        return self.stages[0].base

    def argv(self) -> list[str]:
        """The process the container starts: ENTRYPOINT + CMD, and for ``sh -c 'exec ...'``
        the command that script execs, expanded from the image's env as sh would."""
        argv = self.entrypoint + self.cmd
        if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"]) and len(argv) == 3:
            words = shlex.split(substitute(argv[2], self.env))
            if words[:1] != ["exec"]:
                raise ValueError(f"{argv}: the script does not exec its command, so it is not PID 1")
            return words[1:]
        return argv

    def files(self, ignore: DockerIgnore) -> dict[str, Path]:
        """image path -> file of the repo, for everything COPY/ADD puts into the image."""
        placed: dict[str, Path] = {}
        for copy in self.copies:
            for source in copy.sources:
                for image_path, path in copied_files(copy, source, ignore).items():
                    placed[image_path] = path
        return placed

    def materialise(self, ignore: DockerIgnore, root: Path) -> dict[str, Path]:
        """Copies what the image's COPY lines put in it under root (root/app/... for /app/...)."""
        placed = self.files(ignore)
        for image_path, path in placed.items():
            target = root / image_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        return placed


class Dockerfile:
    def __init__(self, path: Path = DOCKERFILE) -> None:
        self.path = path
        self.text = path.read_text()
        self.instructions = parse_instructions(self.text)
        self.stages: list[Stage] = []
        current: list[Instruction] | None = None
        base = name = None
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                if current is not None:
                    self.stages.append(Stage(base, name, tuple(current)))
                words = instruction.args.split()
                words = [w for w in words if not w.startswith("--platform")]
                if len(words) == 3 and words[1].upper() == "AS":
                    base, name = words[0], words[2]
                elif len(words) == 1:
                    base, name = words[0], None
                else:
                    raise ValueError(f"line {instruction.line}: FROM {instruction.args}")
                current = []
            elif current is None:
                if instruction.keyword != "ARG":
                    raise ValueError(f"line {instruction.line}: {instruction.keyword} before the first FROM")
            else:
                current.append(instruction)
        if current is not None:
            self.stages.append(Stage(base, name, tuple(current)))

    @property
    def stage_names(self) -> list[str | None]:
        return [s.name for s in self.stages]

    def chain(self, target: str | None = None) -> list[Stage]:
        """The stages a target is built from, the first one FROM an outside image.
        No target: the last stage, as docker build builds by default."""
        stage = self.stages[-1] if target is None else self._stage(target)
        chain = [stage]
        while chain[0].base in self.stage_names:
            chain.insert(0, self._stage(chain[0].base))
        return chain

    def _stage(self, name: str) -> Stage:
        matching = [s for s in self.stages if s.name == name]
        if not matching:
            raise KeyError(f"{self.path.name} has no stage {name!r} (stages: {self.stage_names})")
        return matching[-1]

    def image(self, target: str | None = None, **build_args: str) -> Image:
        """The image `docker build --target <target> --build-arg K=V ...` makes."""
        chain = self.chain(target)
        image = Image(target or (self.stages[-1].name or ""), chain)
        for stage in chain:
            args: dict[str, str] = {}  # an ARG is in scope until the end of its stage
            for instruction in stage.instructions:
                apply(image, instruction, args, build_args)
        return image


def _split_flags(words: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words


def apply(image: Image, instruction: Instruction, args: dict[str, str], build_args: dict[str, str]) -> None:
    keyword, text = instruction.keyword, instruction.args
    variables = {**args, **image.env}  # ENV wins over an ARG of the same name
    if keyword == "ARG":
        name, has_default, default = text.partition("=")
        name = name.strip()
        args[name] = build_args[name] if name in build_args else (
            substitute(default.strip().strip('"'), variables) if has_default else "")
    elif keyword == "ENV":
        words = shlex.split(text)
        if words and "=" not in words[0]:  # the legacy form ENV KEY value...
            image.env[words[0]] = substitute(text.split(None, 1)[1], variables)
            return
        for word in words:
            key, sep, value = word.partition("=")
            if not sep:
                raise ValueError(f"line {instruction.line}: ENV {text}")
            image.env[key] = substitute(value, variables)  # the values from before this ENV
    elif keyword == "WORKDIR":
        image.workdir = posixpath.normpath(posixpath.join(image.workdir, substitute(text, variables)))
    elif keyword == "USER":
        image.user = substitute(text, variables)
    elif keyword == "EXPOSE":
        for port in substitute(text, variables).split():
            image.expose.add(int(port.split("/")[0]))
    elif keyword in ("CMD", "ENTRYPOINT"):
        words = instruction.json_args()
        argv = words if words is not None else ["/bin/sh", "-c", text]
        if keyword == "CMD":
            image.cmd = argv
        else:
            image.entrypoint, image.cmd = argv, []  # ENTRYPOINT resets an inherited CMD
    elif keyword in ("COPY", "ADD"):
        words = instruction.json_args()
        if words is None:
            words = text.split()
        flags, words = _split_flags(list(words))
        if "from" in flags:
            raise ValueError(f"line {instruction.line}: COPY --from is not simulated here")
        words = [substitute(w, variables) for w in words]
        *sources, dest = words
        if not sources:
            raise ValueError(f"line {instruction.line}: {keyword} needs a source and a destination")
        if len(sources) > 1 and not dest.endswith("/"):
            raise ValueError(f"line {instruction.line}: several sources need a destination ending in /")
        absolute = dest if dest.startswith("/") else posixpath.join(image.workdir, dest)
        if dest.endswith("/") and not absolute.endswith("/"):
            absolute += "/"
        image.copies.append(Copy(tuple(sources), absolute, flags, instruction))
    elif keyword == "RUN":
        image.runs.append(text)
    elif keyword in ("LABEL", "HEALTHCHECK", "STOPSIGNAL", "SHELL", "VOLUME", "ONBUILD"):
        pass  # present in the image's config, not needed by these tests
    else:
        raise ValueError(f"line {instruction.line}: {keyword} is not simulated here")


def copied_files(copy: Copy, source: str, ignore: DockerIgnore) -> dict[str, Path]:
    """image path -> repo file for one COPY source (a file, or a directory's contents)."""
    if _GLOB.search(source):
        raise ValueError(f"line {copy.instruction.line}: wildcards in COPY sources are not simulated here")
    relative = posixpath.normpath(source.lstrip("/"))
    if relative == ".." or relative.startswith("../"):
        raise ValueError(f"line {copy.instruction.line}: {source} is outside the build context")
    path = ROOT / relative
    if path.is_dir() and ignore.excludes(relative) and not ignore.included_files(relative):
        raise ValueError(f"line {copy.instruction.line}: {source} is not in the build context")
    if path.is_dir():
        dest = copy.dest.rstrip("/") or "/"
        placed = {}
        for file in ignore.included_files(relative):
            inside = PurePosixPath(file).relative_to(relative) if relative != "." else PurePosixPath(file)
            placed[posixpath.join(dest, str(inside))] = ROOT / file
        return placed
    if not path.is_file() or ignore.excludes(relative):
        raise ValueError(f"line {copy.instruction.line}: {source} is not in the build context")
    dest = copy.dest + path.name if copy.dest.endswith("/") else copy.dest
    return {dest: path}


# ---- .dockerignore ----------------------------------------------------------------------------

class Pattern:
    """One .dockerignore line, compiled as moby/patternmatcher's Pattern.compile does."""

    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")  # "exclusion" from the ignore list: an exception
        self.text = text[1:] if self.exclusion else text
        if not self.text:
            raise ValueError('illegal exclusion pattern: "!"')
        self.kind, self.regex = self._compile(self.text)

    @staticmethod
    def _compile(pattern: str) -> tuple[str, re.Pattern | None]:
        regex, kind, pos, iteration = "^", "exact", 0, 0
        while pos < len(pattern):
            ch = pattern[pos]
            pos += 1
            if ch == "*":
                if pattern[pos:pos + 1] == "*":  # some flavour of **
                    pos += 1
                    if pattern[pos:pos + 1] == "/":
                        pos += 1  # **/ is **
                    if pos == len(pattern):  # ** at the end: everything below
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            regex += ".*"
                            kind = "regexp"
                    else:
                        regex += "(.*/)?"  # any number of directories, even none
                        kind = "regexp"
                    if iteration == 0:
                        kind = "suffix"
                else:
                    regex += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                regex += "[^/]"
                kind = "regexp"
            elif ch in ".+()|{}$":
                regex += "\\" + ch  # no meaning in filepath.Match
            elif ch == "\\":
                if pos < len(pattern):
                    regex += "\\" + pattern[pos]
                    pos += 1
                    kind = "regexp"
                else:
                    regex += "\\"
            elif ch in "[]":
                regex += ch
                kind = "regexp"
            else:
                regex += ch
            iteration += 1
        if kind == "regexp":
            return kind, re.compile(regex + "$")
        return kind, None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None


class DockerIgnore:
    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for number, raw in enumerate(lines):
            if number == 0:
                raw = raw.removeprefix("\ufeff")
            if raw.startswith("#"):
                continue
            text = raw.strip()
            if not text:
                continue
            invert = text.startswith("!")
            if invert:
                text = text[1:].strip()
            if text:
                text = posixpath.normpath(text)
                if len(text) > 1 and text.startswith("/"):
                    text = text[1:]
            self.patterns.append(Pattern(("!" if invert else "") + text))

    @classmethod
    def read(cls, path: Path = DOCKERIGNORE) -> DockerIgnore:
        return cls(path.read_text().splitlines() if path.exists() else [])

    @property
    def exceptions(self) -> list[str]:
        return [p.text for p in self.patterns if p.exclusion]

    def excludes(self, path: str) -> bool:
        """True if the build context leaves path out (MatchesOrParentMatches)."""
        path = posixpath.normpath(path)
        if path == ".":
            return False
        parents = posixpath.dirname(path).split("/") if "/" in path else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # only a later exception can change an excluded path back, and vice versa
            match = pattern.match(path) or any(
                pattern.match("/".join(parents[:i + 1])) for i in range(len(parents)))
            if match:
                matched = not pattern.exclusion
        return matched

    def included_files(self, directory: str) -> list[str]:
        """The files under a directory of the repo that the build context carries."""
        found = []
        for dirpath, dirnames, filenames in os.walk(ROOT / directory):
            dirnames.sort()
            for name in sorted(filenames):
                relative = (Path(dirpath) / name).relative_to(ROOT).as_posix()
                if not self.excludes(relative):
                    found.append(relative)
        return found
