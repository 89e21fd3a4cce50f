# Per-well measurement tables -> plate tables (CSV + Parquet) -> heatmaps.

# A well's tables are written by its last segment's job (steps.smk), on a cluster by the
# well_chain rule (well_chain.smk).


rule plate_tables:
    input:
        wells=plate_well_tables,
        layout=plate_layout_file,
    output:
        counts=paths.plate_table("{plate}", "counts", "parquet"),
        counts_csv=report(
            paths.plate_table("{plate}", "counts", "csv"),
            caption="../report/counts.rst",
            category="Tables",
            subcategory="{plate}",
        ),
        objects=paths.plate_table("{plate}", "objects", "parquet"),
        objects_csv=paths.plate_table("{plate}", "objects", "csv"),
        features=paths.plate_table("{plate}", "features", "parquet"),
        features_csv=paths.plate_table("{plate}", "features", "csv"),
        feature_summary=paths.plate_table("{plate}", "feature_summary", "parquet"),
        feature_summary_csv=paths.plate_table("{plate}", "feature_summary", "csv"),
        field_qc=paths.plate_table("{plate}", "field_qc", "parquet"),
        field_qc_csv=report(
            paths.plate_table("{plate}", "field_qc", "csv"),
            caption="../report/field_qc.rst",
            category="Quality control",
            subcategory="{plate}",
        ),
        summary=paths.plate_table("{plate}", "summary", "parquet"),
        summary_csv=report(
            paths.plate_table("{plate}", "summary", "csv"),
            caption="../report/summary.rst",
            category="Tables",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "plate_tables", "plate"),
    params:
        version=VERSION,
    run:
        plate_tables_job(input, output, log[0], PLATES[wildcards.plate])


# A screen of several plates: one summary table, and each measurement's plates side by side.
rule screen_summary:
    input:
        expand(paths.plate_table("{plate}", "summary", "parquet"), plate=list(PLATES)),
    output:
        summary=f"{paths.RESULTS}/screen/summary.parquet",
        summary_csv=report(
            f"{paths.RESULTS}/screen/summary.csv",
            caption="../report/screen.rst",
            category="Screen",
        ),
        heatmaps=report(
            directory(f"{paths.RESULTS}/screen/heatmaps"),
            patterns=["{name}.png"],
            caption="../report/screen.rst",
            category="Screen",
        ),
    log:
        f"{paths.LOGS}/screen_summary.log",
    params:
        version=VERSION,
    run:
        screen_summary_job(input, output, log)


# Plate context, for a plate with a layout: QC of its controls, dose-response fits.
rule plate_qc:
    input:
        paths.plate_table("{plate}", "summary", "parquet"),
    output:
        qc=paths.plate_table("{plate}", "qc", "parquet"),
        qc_csv=report(
            paths.plate_table("{plate}", "qc", "csv"),
            caption="../report/qc.rst",
            category="Quality control",
            subcategory="{plate}",
        ),
        qc_plot=report(
            f"{paths.RESULTS}/{{plate}}/qc/plate_qc.png",
            caption="../report/qc_plot.rst",
            category="Quality control",
            subcategory="{plate}",
        ),
        dose=paths.plate_table("{plate}", "dose_response", "parquet"),
        dose_csv=report(
            paths.plate_table("{plate}", "dose_response", "csv"),
            caption="../report/dose_response.rst",
            category="Dose response",
            subcategory="{plate}",
        ),
        dose_plots=report(
            directory(f"{paths.RESULTS}/{{plate}}/qc/dose_response"),
            patterns=["{name}.png"],
            caption="../report/dose_response.rst",
            category="Dose response",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "plate_qc", "plate"),
    params:
        qc=config["qc"],
        version=VERSION,
    run:
        plate_qc_job(wildcards, input, output, params, log)


rule heatmaps:
    input:
        paths.plate_table("{plate}", "summary", "parquet"),
    output:
        report(
            directory(paths.heatmaps("{plate}")),
            patterns=["{name}.png"],
            caption="../report/heatmaps.rst",
            category="Heatmaps",
            subcategory="{plate}",
        ),
    log:
        paths.log("{plate}", "heatmaps", "plate"),
    params:
        layout=config["heatmap_layout"],
        version=VERSION,
    run:
        heatmaps_job(wildcards, input, output, params, log)
