# The per-well rules' inputs, outputs, logs and params, declared once: the rules per stage
# (steps.smk, ingest.smk, tables.smk) and the cluster's chain rule (well_chain.smk) are
# built from these, so a change to what a stage reads or writes reaches both.
from functools import partial

from snakemake.io import is_flagged
from snakemake.iocontainers import Wildcards
from snakemake.resources import Resources

from hcs_steps.workflow.kept_wells import fingerprint, keep, kept_well, restore
from hcs_steps.workflow.well_batches import (
    WellBatchError,
    batch_resources,
    plain_number,
    run_well_batch,
    threads_per_well,
)
from hcs_steps.workflow.well_chain import run_well_chain
from hcs_steps.workflow.well_stages import (
    SegmentRun,
    TablesRun,
    run_segment_stage,
    run_tables_stage,
    run_well_segment,
    tables_by_kind,
)

# --- segments


def segment_inputs(segment):
    """What a segment reads (input functions of the wildcards): its input well, and the
    plate's flat-field estimate where its first step applies one."""
    return [segment_input_well(segment), segment_illumination(segment)]


def writes_well_tables(segment):
    """Whether a segment's rule also writes the well's tables. The well's last segment
    does, after its own measurements, instead of a job of their own (a job costs more to
    plan and schedule than merging the well's tables takes)."""
    return segment.index == len(PLAN.segments) - 1


def segment_table_inputs(segment):
    """The earlier segments' measurement directories, which the segment that writes the
    well's tables reads too (patterns: Snakemake would inspect an input function for each
    job)."""
    if not writes_well_tables(segment):
        return []
    return well_measurements()[: segment.index]


def segment_well_outputs(segment):
    """The result wells a segment writes, one per written step, each by its metadata file
    (paths.well_metadata: no .snakemake_timestamp inside an OME-Zarr well)."""
    return [
        paths.well_metadata(paths.step_well("{plate}", name, "{row}", "{column}"))
        for name in segment.written
    ]


def segment_measurement_outputs(segment):
    """``{"measurements": directory}``: a segment's measurement tables of a well, one
    directory (paths.table_file per kind), so one output for Snakemake, not one per kind.
    """
    return {
        "measurements": directory(
            paths.segment_measurements("{plate}", segment.name, "{row}", "{column}")
        )
    }


def segment_table_outputs(segment):
    """The well's tables, where the segment's rule writes them (writes_well_tables)."""
    return well_table_named_outputs() if writes_well_tables(segment) else {}


def segment_run(params, measurements, log):
    """A segment's SegmentRun: its params (segment_params, with the functions of the
    wildcards called), its measurement directory and its log."""
    return SegmentRun(
        spec=params["segment"],
        input_plate=params["input_plate"],
        output_plates=dict(zip(params["segment"]["written"], params["output_plates"])),
        measurements=str(measurements),
        log=str(log),
        reading=params["reading"],
        illumination=params["illumination"],
    )


def run_segment_job(rule_name, wildcards, params, output, log):
    """A segment rule's body: run_well_segment with what the rule declared, the well's
    tables too where the rule declares them (segment_table_outputs); in a worker process
    when the run has them (run_in_worker)."""
    writes_tables = "well_tables" in log.keys()
    run_in_worker(
        run_well_segment,
        f"segment {params.segment['segment']} of plate {wildcards.plate}, "
        f"well {well_name(wildcards)}",
        paths.benchmark(
            wildcards.plate, rule_name, f"{wildcards.row}{wildcards.column}"
        ),
        segment=segment_run(params, output.measurements, log[0]),
        plate=wildcards.plate,
        well=well_name(wildcards),
        tables=well_tables_run(wildcards, output, log) if writes_tables else None,
        plugins=config["plugins"],
        provenance={"hcs_steps_version": params.version},
    )


def segment_log(segment):
    return paths.log("{plate}", segment.rule_name, "{row}{column}")


def segment_logs(segment):
    """The segment's log, then the well's tables' where its rule writes them."""
    return {segment.rule_name: segment_log(segment)} | (
        well_tables_logs() if writes_well_tables(segment) else {}
    )


def segment_params(segment):
    """The params of a segment's job: its arguments to run_segment, and what reruns it."""
    return {
        "segment": segment.spec(),
        "version": VERSION,
        "input_plate": segment_input_plate(segment),
        "output_plates": segment_output_plates(segment),
        "reading": segment_reading(segment),
        "illumination": segment_illumination(segment),
    }


# --- ingest


def ingested_well_output():
    return paths.well_metadata(
        paths.well_in(paths.ingested_plate("{plate}"), "{row}", "{column}")
    )


def ingest_log():
    return paths.log("{plate}", "ingest_well", "{row}{column}")


def ingest_input(wildcards):
    """An input function: with on_bad_well: skip, the well's source files (a fixed file
    then re-ingests a skipped well)."""
    return PLATES[wildcards.plate].ingest_input(well_name(wildcards))


def ingest_source(wildcards):
    """What was read: a changed time point, path or pattern re-ingests the plate."""
    return PLATES[wildcards.plate].source_settings()


# --- well tables


def well_table_named_outputs():
    """``{"well_tables": directory}``: the well's tables, by a name unique in a job that
    writes measurement tables too."""
    return {"well_tables": directory(paths.well_tables("{plate}", "{row}", "{column}"))}


def well_tables_logs():
    return {"well_tables": paths.log("{plate}", "well_tables", "{row}{column}")}


def well_tables_run(wildcards, outputs, logs):
    """The well's TablesRun: every segment's measurement directory (well_measurements)
    into the output and log named by well_table_named_outputs and well_tables_logs."""
    return TablesRun(
        inputs=resolved(well_measurements(), wildcards),
        output=str(outputs["well_tables"]),
        log=str(logs["well_tables"]),
    )


# --- a well's whole chain, one rule on a cluster


def chain_rule_name(ingests):
    return "well_chain_ingested" if ingests else "well_chain"


def chain_well_outputs(ingests):
    """Every well directory the chain writes: the ingested well, each segment's results."""
    ingested = [ingested_well_output()] if ingests else []
    return ingested + [
        output for segment in PLAN.segments for output in segment_well_outputs(segment)
    ]


def chain_named_outputs():
    """Each segment's measurement directory, then the well's tables, by unique names."""
    named = {
        f"{segment.rule_name}_measurements": segment_measurement_outputs(segment)[
            "measurements"
        ]
        for segment in PLAN.segments
    }
    named.update(well_table_named_outputs())
    return named


def chain_logs(ingests):
    logs = {"ingest_well": ingest_log()} if ingests else {}
    logs.update({segment.rule_name: segment_log(segment) for segment in PLAN.segments})
    logs.update(well_tables_logs())
    return logs


def concrete(source, wildcards):
    """A rule's input or params entry for one job, as Snakemake makes it: a function's
    value, strings and lists of strings with the wildcards filled in, any other value.
    """
    if callable(source):
        return source(wildcards)
    values = dict(wildcards.items())
    if isinstance(source, str):
        return source.format(**values)
    if isinstance(source, list):
        return [
            str(item).format(**values) if isinstance(item, str) else item
            for item in source
        ]
    return source


def resolved(source, wildcards):
    """The paths a rule's input ``source`` stands for (concrete), as a list."""
    found = concrete(source, wildcards)
    return [found] if isinstance(found, str) else list(found)


def chain_inputs(ingests):
    """An input function: what the chain's stages read that the chain does not write
    itself (a plate read where it is; for an ingested plate, nothing)."""
    patterns = [str(path) for path in chain_well_outputs(ingests)]
    patterns += list(chain_named_outputs().values())

    def inputs(wildcards):
        values = dict(wildcards.items())
        written = {pattern.format(**values) for pattern in patterns}
        sources = [
            source for segment in PLAN.segments for source in segment_inputs(segment)
        ]
        sources.append(well_measurements())
        sources += [ingest_input] if ingests else []
        read = [path for source in sources for path in resolved(source, wildcards)]
        # a stage may read a well directory whose files another stage declares
        return [
            path
            for path in dict.fromkeys(read)
            if not any(w == path or w.startswith(f"{path}/") for w in written)
        ]

    return inputs


def chain_resources():
    """What the stages ask for, once: the well's resources, a GPU if a segment needs one."""
    resources = dict(WELL_RESOURCES)
    for segment in PLAN.segments:
        resources.update(segment.resources)
    resources["gpu"] = max(segment.resources.get("gpu", 0) for segment in PLAN.segments)
    return resources


def chain_params(ingests):
    params = {
        "ingests": ingests,
        "version": VERSION,
        "segments": chain_segment_params,
    }
    if ingests:
        params["source"] = ingest_source
    return params


def chain_segment_params(wildcards):
    """Each segment's params (segment_params) for the well, as Snakemake makes them."""
    return [
        {
            name: concrete(value, wildcards)
            for name, value in segment_params(segment).items()
        }
        for segment in PLAN.segments
    ]


def chain_well_arguments(wildcards, segments, ingests, outputs, logs):
    """run_well_chain's arguments for one well: ``segments`` its chain_segment_params,
    ``outputs`` and ``logs`` its files by the names of chain_named_outputs and chain_logs.
    """
    runs = [
        segment_run(
            segment,
            outputs[f"{planned.rule_name}_measurements"],
            logs[planned.rule_name],
        )
        for planned, segment in zip(PLAN.segments, segments)
    ]
    tables = well_tables_run(wildcards, outputs, logs)
    return {
        "plate": PLATES[wildcards.plate],
        "well": well_name(wildcards),
        "ingest_log": logs["ingest_well"] if ingests else None,
        "segments": runs,
        "tables": tables,
        "plugins": config["plugins"],
        "provenance": {"hcs_steps_version": VERSION},
    }


def run_chain_job(wildcards, params, output, log):
    run_well_chain(
        **chain_well_arguments(wildcards, params.segments, params.ingests, output, log)
    )


# --- several wells' chains in one job, at once (cluster.wells_per_job above 1)


def well_wildcards(plate, well):
    row, column = parse_well(well)
    return Wildcards(fromdict={"plate": plate, "row": row, "column": column})


def well_files(patterns, plate, well):
    """``patterns`` (of plate, row and column) of one well, directories still flagged so."""
    values = dict(well_wildcards(plate, well).items())
    return [
        directory(path) if is_flagged(pattern, "directory") else path
        for pattern in patterns
        for path in [str(pattern).format(**values)]
    ]


def batch_well_outputs(batch):
    ingests = PLATES[batch.plate].ingest
    return [
        path
        for well in batch.wells
        for path in well_files(chain_well_outputs(ingests), batch.plate, well)
    ]


def batch_by_well(named, batch):
    """``{name: pattern}`` of one well (chain_named_outputs, chain_logs) as
    ``{well_name: file}`` for every well of the batch: names unique within the job."""
    return {
        f"{well}_{name}": well_files([pattern], batch.plate, well)[0]
        for well in batch.wells
        for name, pattern in named.items()
    }


def of_well(files, well, names):
    """One well's files of a batch job's named outputs or logs, by their chain names."""
    return {name: files[f"{well}_{name}"] for name in names}


def batch_inputs(batch):
    inputs = chain_inputs(PLATES[batch.plate].ingest)
    read = [
        path
        for well in batch.wells
        for path in inputs(well_wildcards(batch.plate, well))
    ]
    return list(dict.fromkeys(read))


def batch_job_resources(batch):
    """What the batch's wells ask for together (well_batches.batch_resources): a well's
    share is the profile's default resources, then what the chain rule asks for."""
    defaults = Resources.from_mapping(
        workflow.resource_settings.default_resources or {}
    )
    # a default given as a number, on the command line or in a profile (its raw text);
    # an expression of a job's input, such as Snakemake's own mem_mb, applies unscaled
    per_well = {
        name: number
        for name in defaults
        if (number := plain_number(defaults[name].raw)) is not None
    }
    per_well.update(chain_resources())
    return batch_resources(per_well, len(batch.wells))


def batch_params(batch):
    ingests = PLATES[batch.plate].ingest
    params = {
        "plate": batch.plate,
        "wells": list(batch.wells),
        "ingests": ingests,
        "version": VERSION,
        "segments": {
            well: chain_segment_params(well_wildcards(batch.plate, well))
            for well in batch.wells
        },
    }
    if ingests:
        params["source"] = ingest_source(well_wildcards(batch.plate, batch.wells[0]))
    return params


def run_batch_job(params, output, log, resources):
    """A batch rule's body: each well's chain (chain_well_arguments) in a thread of its
    own, sharing the job's cores out. A well that finished in a failed run of the batch
    comes back from where that run kept it (kept_wells), if made as it would be now."""
    named = list(chain_named_outputs())
    logs = list(chain_logs(params.ingests))
    threads = threads_per_well(resources.get("cpus_per_task", 1), len(params.wells))
    inputs = chain_inputs(params.ingests)
    chains, kept = {}, {}
    for well in params.wells:
        wildcards = well_wildcards(params.plate, well)
        outputs = of_well(output, well, named)
        store = kept_well(params.plate, well)
        digest = fingerprint(
            [params.segments[well], params.version, getattr(params, "source", None)],
            inputs(wildcards),
        )
        declared = well_files(chain_well_outputs(params.ingests), params.plate, well)
        well_logs = of_well(log, well, logs)
        kept[well] = (store, digest, declared + list(outputs.values()))
        if restore(*kept[well]):
            print(
                f"plate {params.plate} well {well}: kept from an earlier run, not rerun"
            )
            continue
        chains[well] = partial(
            run_well_chain,
            **chain_well_arguments(
                wildcards,
                params.segments[well],
                params.ingests,
                outputs,
                well_logs,
            ),
            threads=threads,
        )
    try:
        run_well_batch(chains)
    except WellBatchError as error:
        # Snakemake removes a failed job's outputs: keep the finished (and the restored)
        # wells from that
        for well in set(params.wells) - error.failed:
            keep(*kept[well], logs=list(of_well(log, well, logs).values()))
        raise
