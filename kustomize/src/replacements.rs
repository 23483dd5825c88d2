//! `replacements`: copy fields between objects.
