//! The release coordinator's CLI (kiln) and the pipeline it drives
