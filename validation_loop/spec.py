"""The loop spec (`loop.yaml`): its schema, validation with readable errors, load and save."""

from __future__ import annotations

import re
import reprlib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from validation_loop.atomic import write_text
from validation_loop.errors import SpecError
from validation_loop.gaps.thresholds import resolve_rules, threshold_names

LOOP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DEFAULT_NULL_VALUES = ["", "NA", "N/A", "NULL", "null", "None"]
# Every section refuses unknown keys, and NaN or infinite numbers (a NaN threshold never
# crosses, an infinite timeout never ends).
SPEC_FIELDS = ConfigDict(extra="forbid", allow_inf_nan=False)
MAX_THREADS = 1024  # DuckDB starts every thread it is given (100,000 hang it on exit)
MEMORY_PATTERN = r"^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
MEMORY_UNITS = {
    **{unit: 1000 ** (power + 1) for power, unit in enumerate(("KB", "MB", "GB", "TB"))},
    **{unit: 1024 ** (power + 1) for power, unit in enumerate(("KiB", "MiB", "GiB", "TiB"))},
}
MIN_MEMORY, MAX_MEMORY = 16 * 1000**2, 2**60
SEED_MAX = 2**32 - 1  # scikit-learn's random_state takes 0 .. 2**32 - 1


class ColumnType(StrEnum):
    """The logical type of a column; each maps to one DuckDB type."""

    numeric = "numeric"
    categorical = "categorical"
    boolean = "boolean"
    datetime = "datetime"
    text = "text"

    @property
    def sql_type(self) -> str:
        """The DuckDB type the warehouse stores this column as."""
        return {
            "numeric": "DOUBLE",
            "categorical": "VARCHAR",
            "boolean": "BOOLEAN",
            "datetime": "TIMESTAMP",
            "text": "VARCHAR",
        }[self.value]


class Task(StrEnum):
    """What the label is: a class or a number."""

    classification = "classification"
    regression = "regression"


class AnnotationSpec(BaseModel):
    """How human batches carry their labels."""

    model_config = SPEC_FIELDS

    format: Literal["rows", "long"] = Field(
        "rows",
        description="`rows`: one row per item with its label. `long`: one row per judgement "
        "(item id, annotator id, label), item features repeated on each row.",
    )
    item_column: str | None = Field(
        None, description="Long format: the item id column (defaults to `id_column`)."
    )
    annotator_column: str | None = Field(None, description="Long format: the annotator id column.")


class QualitySpec(BaseModel):
    """Batch expectations and human-label quality settings."""

    model_config = SPEC_FIELDS

    range_tolerance: float = Field(
        0.1, ge=0, description="Generated numeric ranges widen the human range by this share."
    )
    max_categories: int = Field(
        200, ge=1, description="Columns with more human categories get no in-set expectation."
    )
    consensus: Literal["majority", "dawid_skene"] = Field(
        "majority", description="How long-format judgements become one label per item."
    )
    min_item_agreement: float = Field(
        0.5, ge=0, le=1, description="Items below this agreement are left out of the truth."
    )
    alpha_warn: float = Field(0.67, description="Krippendorff's alpha below this warns.")
    alpha_error: float = Field(0.4, description="Krippendorff's alpha below this is an error.")
    gold: dict[str, str | float] = Field(
        default_factory=dict, description="Gold labels by item id, for annotator accuracy."
    )


class ModelSpec(BaseModel):
    """Model-based gap checks: detection and train-on-synthetic, test-on-human utility."""

    model_config = SPEC_FIELDS

    enabled: bool = Field(True, description="Run the model-based checks with every comparison.")
    detection_rows: int = Field(
        5_000, ge=100, description="Rows per side the detection classifier sees at most."
    )
    utility_rows: int = Field(
        10_000, ge=100, description="Synthetic training rows and human test rows at most."
    )
    folds: int = Field(3, ge=2, le=20, description="Cross-validation folds.")
    bootstrap: int = Field(100, ge=20, description="Bootstrap resamples for intervals.")
    min_slice_support: int = Field(
        30, ge=5, description="Human rows a slice needs before its utility gap is tested."
    )
    estimator: str | None = Field(
        None,
        description="The task model as `module:callable` or `module.Class` (called with no "
        "arguments); default: scikit-learn's HistGradientBoosting with the settings below.",
    )
    max_iter: int = Field(
        50, ge=10, le=1000, description="Boosting iterations of the default models."
    )
    learning_rate: float = Field(
        0.2, gt=0, le=1, description="Learning rate of the default models."
    )
    max_leaf_nodes: int = Field(31, ge=2, description="Leaves per tree of the default models.")
    max_trees: int = Field(
        200,
        ge=10,
        description="Trees per multi-class fit at most: with K classes every iteration grows K "
        "trees, so the default models then run max_trees / K iterations (at least 10).",
    )
    regression_loss: Literal["absolute_error", "squared_error"] = Field(
        "absolute_error",
        description="Loss of the default regression model; `absolute_error` is robust to "
        "heavy-tailed labels (one extreme training row cannot swing the model).",
    )
    max_classes: int = Field(
        20,
        ge=2,
        le=1000,
        description="Classes the utility models keep; rarer classes are pooled into one.",
    )
    min_class_rows: int = Field(
        10, ge=2, description="A class with fewer rows in the human sample is pooled."
    )
    max_columns: int = Field(
        200,
        ge=2,
        description="Columns the model checks use at most on wide tables: detection those that "
        "tell the sides apart best on their own, utility those most associated with the label.",
    )
    importance_columns: int = Field(
        30,
        ge=1,
        description="Columns whose detection importance is measured (those that differ most "
        "on their own).",
    )
    importance_repeats: int = Field(
        2, ge=1, le=20, description="Shuffles per column and fold for detection importance."
    )
    slice_candidates: int = Field(
        20,
        ge=1,
        description="Automatic utility slices, found on one half of the human rows, that are "
        "tested on the other half.",
    )


class ResourceSpec(BaseModel):
    """How much of the machine one run of this loop may use."""

    model_config = SPEC_FIELDS

    threads: int | None = Field(
        None,
        ge=1,
        le=MAX_THREADS,
        description="Threads any one step (a model fit, a DuckDB query) may use; default: "
        "$VALIDATION_LOOP_THREADS, else the cores available to the process.",
    )
    duckdb_memory: str = Field(
        "1GB",
        pattern=MEMORY_PATTERN,
        description="DuckDB's memory limit for this loop's connections (staging a batch, "
        "validating, comparing); beyond it DuckDB spills to <home>/tmp.",
    )

    @field_validator("duckdb_memory")
    @classmethod
    def _usable_memory(cls, value: str) -> str:
        """A limit DuckDB can start with: from 16MB (below, a connection cannot even open) to
        1 EiB (far above, DuckDB's parser overflows)."""
        match = re.fullmatch(MEMORY_PATTERN, value)
        assert match is not None  # the pattern was checked first
        size = float(match.group(1)) * MEMORY_UNITS[match.group(2)]
        if not MIN_MEMORY <= size <= MAX_MEMORY:
            raise ValueError("outside 16MB .. 1EiB")
        return value


class FeedbackSpec(BaseModel):
    """How gap reports feed back into the generator config."""

    model_config = SPEC_FIELDS

    mode: Literal["propose", "auto"] = Field(
        "propose",
        description="`propose`: the next config version waits for `validation-loop accept`; "
        "`auto`: it becomes current at once.",
    )
    rows: int = Field(
        10_000, ge=100, description="Rows per synthetic batch of the reference generator."
    )


CRON_ALIASES = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
CRON_FIELDS = (  # (lowest, highest, names) per field
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _cron_number(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    """One number or name within a field's range, as a number; None if it is neither."""
    if text.lower() in names:
        return names.index(text.lower()) + low
    if text.isdigit() and low <= int(text) <= high:
        return int(text)
    return None


def _cron_values(field: str, low: int, high: int, names: tuple[str, ...]) -> set[int] | None:
    """The values one cron field selects (a range may wrap around, `5/10` runs to the end), or
    None if the field is not valid."""
    values: set[int] = set()
    for part in field.split(","):
        base, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return None
        if base == "*":
            first, last = low, high
        else:
            ends = [_cron_number(end, low, high, names) for end in base.split("-")]
            if len(ends) > 2 or None in ends:
                return None
            first, last = ends[0], (ends[1] if len(ends) == 2 else high if slash else ends[0])
        assert first is not None and last is not None
        wrapped = [*range(first, high + 1), *range(low, last + 1)]
        span = range(first, last + 1) if first <= last else wrapped
        values.update(span[:: int(step) if slash else 1])
    return values


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a standard five-field cron expression (lists, ranges, steps,
    names) or an @ alias that fires at all; None if it is one.

    Dagster refuses only February 30 and 31; croniter fails on any date that never comes."""
    if expression.strip() in CRON_ALIASES:
        return None
    fields = expression.split()
    selected = [
        _cron_values(field, *limits) for field, limits in zip(fields, CRON_FIELDS, strict=False)
    ]
    if len(fields) != len(CRON_FIELDS) or None in selected:
        return (
            "not a valid cron expression (five fields, e.g. '0 6 * * *', "
            "or @hourly, @daily, @weekly, @monthly)"
        )
    days, months = selected[2], selected[3]
    assert days is not None and months is not None
    if not any(day <= DAYS_IN_MONTH[month - 1] for day in days for month in months):
        return "never fires: none of its days of the month occurs in its months"
    return None


class ScheduleSpec(BaseModel):
    """When the loop re-checks itself even if no batch arrived."""

    model_config = SPEC_FIELDS

    cron: str = Field("0 6 * * *", description="Cron expression (default: daily at 06:00).")
    timezone: str = Field("UTC", description="IANA time zone of the cron expression.")

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        """A cron expression Dagster can schedule, that fires."""
        problem = cron_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA time zone name."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a long name
            raise ValueError("not an IANA time zone (e.g. 'Europe/Berlin')") from None
        return value


class FreshnessSpec(BaseModel):
    """Stale data is a finding of its own."""

    model_config = SPEC_FIELDS

    human_max_age_days: float = Field(
        30, gt=0, description="No human batch for longer than this is a warn-level finding."
    )


RouteType = Literal["slack", "teams", "webhook", "email"]


class RouteSpec(BaseModel):
    """One alert destination; endpoints and secrets are names of environment variables."""

    model_config = SPEC_FIELDS

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Shown in the delivery log.")
    type: RouteType
    min_severity: Literal["warn", "error"] = Field(
        "warn", description="Gap alerts at this severity or worse go here; run failures always."
    )
    url_env: str | None = Field(None, description="slack, teams, webhook: env var with the URL.")
    secret_env: str | None = Field(None, description="webhook: env var with the HMAC secret.")
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    ca_file: str | None = Field(None, description="email: CA bundle to verify the SMTP server.")
    username_env: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> RouteSpec:
        """Each type has what it needs."""
        needed = {
            "slack": ["url_env"],
            "teams": ["url_env"],
            "webhook": ["url_env", "secret_env"],
            "email": ["smtp_host", "sender", "recipients"],
        }[self.type]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"route {self.name!r} ({self.type}) needs {', '.join(missing)}")
        if bool(self.username_env) != bool(self.password_env):
            raise ValueError(f"route {self.name!r}: username_env and password_env go together")
        return self


class AlertSpec(BaseModel):
    """Where gap and run-failure alerts go, and how often."""

    model_config = SPEC_FIELDS

    routes: list[RouteSpec] = Field(default_factory=list)
    renotify_hours: float = Field(
        24, gt=0, description="An open gap alerts again after this long (or when it worsens)."
    )
    report_url: str | None = Field(
        None, description="Base URL where reports/<loop>/ is served; default: file:// links."
    )
    dagster_url: str = Field("http://127.0.0.1:3000", description="Base URL of the Dagster UI.")
    timeout_seconds: float = Field(10, gt=0, description="Per delivery attempt.")
    attempts: int = Field(3, ge=1, le=10, description="Attempts per delivery in one go.")
    backoff_seconds: float = Field(1.0, ge=0, description="First wait between attempts.")
    max_gaps: int = Field(20, ge=1, description="Gaps listed in one message (the rest counted).")

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSpec:
        """Route names identify deliveries."""
        names = [r.name for r in self.routes]
        if len(names) != len(set(names)):
            raise ValueError(f"route names must be unique: {names}")
        return self


class LoopSpec(BaseModel):
    """A validated `loop.yaml`."""

    model_config = SPEC_FIELDS

    name: str = Field(pattern=LOOP_NAME_PATTERN, description="The loop's name.")
    task: Task = Field(description="`classification` or `regression`.")
    label: str = Field(description="The label column.")
    id_column: str | None = Field(None, description="A column that identifies an item.")
    columns: dict[str, ColumnType] = Field(
        min_length=1, description="Every column the loop keeps, with its type."
    )
    slices: list[str] = Field(default_factory=list, description="Columns to slice by.")
    sensitive: list[str] = Field(default_factory=list, description="Sensitive attributes.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Overrides of metric thresholds, by name."
    )
    annotations: AnnotationSpec = Field(default_factory=AnnotationSpec)
    strict_columns: bool = Field(
        False, description="Reject batches with extra columns instead of dropping them."
    )
    null_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NULL_VALUES),
        description="Strings read as missing in CSV batches.",
    )
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed for every random choice the loop makes."
    )
    quality: QualitySpec = Field(default_factory=QualitySpec)
    models: ModelSpec = Field(default_factory=ModelSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    freshness: FreshnessSpec = Field(default_factory=FreshnessSpec)
    alerts: AlertSpec = Field(default_factory=AlertSpec)
    sample_rows: int = Field(
        200_000, ge=1_000, description="Rows per side the sample-based gap checks use at most."
    )
    sample_cells: int = Field(
        20_000_000,
        ge=100_000,
        description="Values (rows x compared columns) per side the samples hold at most, so "
        "wide tables get fewer sample rows and memory stays bounded.",
    )
    max_pairs: int = Field(
        2_000,
        ge=1,
        description="Column pairs the pairwise checks test at most: pairs with the slice, "
        "sensitive and label columns first, then the strongest human associations.",
    )

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        """Only threshold names the gap checks know."""
        known = set(threshold_names())
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(
                f"unknown threshold {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        resolve_rules(value)
        return value

    @model_validator(mode="after")
    def _columns_agree(self) -> LoopSpec:
        """Check that every column the spec names is declared, with a type that fits its role."""
        declared = set(self.columns)

        def need(column: str | None, role: str) -> None:
            if column is not None and column not in declared:
                raise ValueError(
                    f"{role} {column!r} is not in columns (declared: {sorted(declared)})"
                )

        need(self.label, "label")
        need(self.id_column, "id_column")
        label_type = self.columns[self.label]
        if self.task is Task.classification and label_type not in (
            ColumnType.categorical,
            ColumnType.boolean,
        ):
            raise ValueError(
                f"label {self.label!r} has type {label_type.value}; "
                "classification expects categorical or boolean"
            )
        if self.task is Task.regression and label_type is not ColumnType.numeric:
            raise ValueError(
                f"label {self.label!r} has type {label_type.value}; regression expects numeric"
            )
        for role, names in (("slice", self.slices), ("sensitive attribute", self.sensitive)):
            for column in names:
                need(column, role)
                if self.columns[column] not in (ColumnType.categorical, ColumnType.boolean):
                    raise ValueError(
                        f"{role} {column!r} has type {self.columns[column].value}; "
                        "expected categorical or boolean"
                    )
        if self.annotations.format == "long":
            if self.item_column is None:
                raise ValueError("annotations.format 'long' needs item_column or id_column")
            if self.annotations.annotator_column is None:
                raise ValueError("annotations.format 'long' needs annotator_column")
            need(self.item_column, "annotations.item_column")
            if self.annotations.annotator_column in declared:
                raise ValueError(
                    f"annotations.annotator_column {self.annotations.annotator_column!r} "
                    "must not be one of columns: it describes a judgement, not an item"
                )
        return self

    @property
    def item_column(self) -> str | None:
        """The column that identifies an item (long format's item column, else the id)."""
        return self.annotations.item_column or self.id_column

    @property
    def feature_columns(self) -> list[str]:
        """Columns that are neither the label nor the id."""
        return [c for c in self.columns if c not in (self.label, self.item_column)]

    def to_yaml(self) -> str:
        """The spec as YAML, keys in schema order."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


_SHORT = reprlib.Repr()  # a value in a message: bounded, however large the YAML made it
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxstring = 3, 6, 6, 80


def _describe(error: dict[str, Any]) -> str:
    """One line for one pydantic error: field, value, what was expected."""
    field = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("missing",):
        return f"field {field!r}: missing; {message.lower()}"
    return f"field {field!r}: got {_SHORT.repr(error.get('input'))}; {message}"


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML would keep the
    last one silently, dropping, say, a whole `columns:` block)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """The mapping of `node`, or a `ConstructorError` naming a repeated key."""
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key, which the base class refuses
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    problem=f"key {key!r} appears twice (first on line {first.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def parse_spec(data: Any, origin: str) -> LoopSpec:
    """Validate a mapping as a loop spec; `origin` names the file in errors."""
    if not isinstance(data, dict):
        raise SpecError(origin, [f"expected a mapping of fields, got {type(data).__name__}"])
    try:
        return LoopSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(origin, [_describe(e) for e in exc.errors()]) from None


def load_spec(path: Path) -> LoopSpec:
    """Read and validate a `loop.yaml`."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), [f"not UTF-8 text (byte {exc.start})"]) from None
    except OSError as exc:
        raise SpecError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # a SafeLoader: no Python objects
    except RecursionError:
        raise SpecError(str(path), ["not valid YAML: nested too deeply"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(filter(None, (exc.context, exc.problem)))
        raise SpecError(str(path), [f"not valid YAML{where}: {problem}"]) from None
    except Exception as exc:  # PyYAML's constructors raise whatever a bad scalar makes Python
        # raise (ValueError for 2024-13-45, KeyError for `!!bool maybe`, AttributeError for
        # `!!timestamp x`) besides its own YAMLError
        raise SpecError(str(path), [f"not valid YAML: {exc!r}"]) from None
    spec = parse_spec(data, str(path))
    if spec.name != path.parent.name:
        raise SpecError(
            str(path),
            [
                f"field 'name': got {spec.name!r}; expected the loop folder's name "
                f"{path.parent.name!r}"
            ],
        )
    return spec


def save_spec(spec: LoopSpec, path: Path) -> None:
    """Write a spec as YAML with a short header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# validation_loop loop spec; every field is described in the README.\n"
    write_text(path, header + spec.to_yaml())
