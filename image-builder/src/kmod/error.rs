//! The error type shared by the build-side scanner and the runtime index.

use std::path::PathBuf;

/// Everything that can go wrong while reading kernel modules or their index files.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// A line of one of the depmod-style index files could not be understood.
    #[error("{file} line {line}: {reason}")]
    IndexParse {
        /// Which file: `modules.dep`, `modules.alias`, `modules.softdep` or `modules.builtin`.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A module name asked for is neither shipped nor built into the kernel.
    #[error("unknown module {name}: neither shipped as a .ko nor built into the kernel")]
    UnknownModule {
        /// The (normalised) module name.
        name: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `.ko` file is not an ELF object we can parse.
    #[error("cannot parse ELF file {path}: {source}")]
    Elf {
        /// The offending `.ko` file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: object::read::Error,
    },
    /// A `.ko` file has no `.modinfo` section.
    #[error("{path} has no .modinfo section")]
    NoModinfo {
        /// The offending `.ko` file.
        path: PathBuf,
    },
    /// A `.modinfo` entry is malformed (no `=`, bad softdep syntax, not UTF-8).
    #[error("bad .modinfo entry in {path}: {reason}")]
    ModinfoParse {
        /// The offending `.ko` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The directory given as a module tree has no `kernel/` subdirectory.
    #[error("{path} is not a lib/modules/<kver> directory: it has no kernel/ subdirectory")]
    NotModuleTree {
        /// The directory that was given.
        path: PathBuf,
    },
    /// Two `.ko` files map to the same normalised module name.
    #[error("module name {name} is used by both {first} and {second}")]
    DuplicateModule {
        /// The normalised module name.
        name: String,
        /// Relative path of the first file.
        first: String,
        /// Relative path of the second file.
        second: String,
    },
    /// A module's `depends=` names a module that is neither in the tree nor built in.
    #[error(
        "module {module} depends on {dependency}, which is neither in the module tree nor built in"
    )]
    MissingDependency {
        /// The module whose `depends=` is broken.
        module: String,
        /// The dependency that could not be found.
        dependency: String,
    },
    /// A module set passed to `render_index` lacks a hard dependency of one of its members.
    #[error("module set is not closed: {module} depends on {dependency}, which is not in the set")]
    NotInSet {
        /// The member of the set.
        module: String,
        /// Its dependency missing from the set.
        dependency: String,
    },
    /// A path under the module tree is not valid UTF-8.
    #[error("path {path} is not valid UTF-8")]
    NonUtf8Path {
        /// The offending path (lossily displayed).
        path: PathBuf,
    },
    /// A closure computed by us differs from the reference closure.
    #[error("closure of {root} differs from the reference: missing [{}], unexpected [{}]", missing.join(" "), extra.join(" "))]
    ReferenceMismatch {
        /// The root module whose closure differs.
        root: String,
        /// Modules the reference has and we lack.
        missing: Vec<String>,
        /// Modules we have and the reference lacks.
        extra: Vec<String>,
    },
}
