//! Placeholder: owned by A2 (issue 5, part 2).
