//! Wires capture → decode → flow → engine → findings for one analysis run.
