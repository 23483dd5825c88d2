//! Reports of verdicts: JSON results and PolicyReports.
