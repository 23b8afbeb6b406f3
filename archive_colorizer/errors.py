"""The archcolor exception tree.

Every error the product raises on purpose derives from :class:`ArchcolorError`. The CLI catches
``ArchcolorError`` at the top, prints ``str(error)`` on one line and exits 1 (a traceback only
with ``--debug``). Each class's docstring is its default message; pass a more specific message
that names the file/row and says what to do::

    ArchcolorError
    ├── ConfigurationError           bad option / env var value
    ├── CatalogError                 database problems
    │   ├── DatabaseUnavailableError   cannot connect (or a passing failure: retry later)
    │   ├── DatabaseReadOnlyError      a command that writes met a read-only database
    │   ├── SchemaOutOfDateError       database behind head: run `archcolor db upgrade`
    │   └── NotFoundError              no such scan / job / volume / model
    │       └── NothingToExportError       no current derivatives for the selection
    ├── InputError                   a path or file the user gave us is unusable
    │   ├── PathNotFoundError
    │   ├── HintsError                 a colour-hints file is malformed or names unknown pages
    │   └── MasterError                a master file cannot be used
    │       ├── NotATiffError
    │       ├── CorruptTiffError
    │       ├── UnsupportedTiffError
    │       ├── PixelLimitError        decompression-bomb guard
    │       └── PageLimitError         more image pages than the page limit
    ├── FixityError                  a file no longer matches its recorded checksum
    ├── ModelError                   model registry / weights problems
    │   ├── ModelNotFoundError
    │   └── WeightsChecksumError
    ├── InferenceError               the network could not produce colour
    │   └── DeviceError                requested device unavailable / out of memory at the floor
    ├── OutputError                  a derivative or export could not be written
    │   └── ProtectedPathError         the output would land on a master or in an ingested folder
    ├── ContentCredentialsError      C2PA Content Credentials could not be made or read
    │   ├── C2paUnavailableError       the c2pa-python library is not installed
    │   ├── SigningCredentialsError    certificate chain / private key missing or unusable
    │   └── C2paFormatError            the library cannot sign or read this file format
    └── JobError                     queue problems
        ├── TransientJobError          retry later with backoff
        └── PermanentJobError          dead-letter at once
"""

from __future__ import annotations

__all__ = [
    "ArchcolorError",
    "C2paFormatError",
    "C2paUnavailableError",
    "CatalogError",
    "ConfigurationError",
    "ContentCredentialsError",
    "CorruptTiffError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "DeviceError",
    "FixityError",
    "HintsError",
    "InferenceError",
    "InputError",
    "JobError",
    "MasterError",
    "ModelError",
    "ModelNotFoundError",
    "NotATiffError",
    "NotFoundError",
    "NothingToExportError",
    "OutputError",
    "PageLimitError",
    "PathNotFoundError",
    "PermanentJobError",
    "PixelLimitError",
    "ProtectedPathError",
    "SchemaOutOfDateError",
    "SigningCredentialsError",
    "TransientJobError",
    "UnsupportedTiffError",
    "WeightsChecksumError",
]


class ArchcolorError(Exception):
    """archcolor failed."""

    #: process exit status the CLI uses for this error
    exit_code: int = 1

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "archcolor failed.").strip().splitlines()[0]
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ArchcolorError):
    """An option or environment variable has an invalid value; see `archcolor --help`."""


class CatalogError(ArchcolorError):
    """The catalog database could not be used."""


class DatabaseUnavailableError(CatalogError):
    """Cannot connect to the catalog database; check --db / ARCHCOLOR_DATABASE_URL."""


class DatabaseReadOnlyError(CatalogError):
    """The catalog database is read-only and this command writes to it; make it writable."""


class SchemaOutOfDateError(CatalogError):
    """The catalog database schema is behind this archcolor version; run `archcolor db upgrade`."""


class NotFoundError(CatalogError):
    """The requested record does not exist in the catalog."""


class NothingToExportError(NotFoundError):
    """Nothing to export: no current derivatives; run `archcolor process --pending` first."""


class InputError(ArchcolorError):
    """An input given to archcolor cannot be used."""


class PathNotFoundError(InputError):
    """The given path does not exist; check the spelling and that the volume is mounted."""


class HintsError(InputError):
    """The colour-hints file cannot be used; see docs/hints.md for the format."""


class MasterError(InputError):
    """A master file cannot be used."""


class NotATiffError(MasterError):
    """not a TIFF."""


class CorruptTiffError(MasterError):
    """The TIFF structure is corrupt or truncated."""


class UnsupportedTiffError(MasterError):
    """The TIFF uses a layout archcolor does not support."""


class PixelLimitError(MasterError):
    """The image declares more pixels than the configured limit (decompression-bomb guard)."""


class PageLimitError(MasterError):
    """The file holds more image pages than the configured page limit."""


class FixityError(ArchcolorError):
    """A file no longer matches its recorded sha256 checksum."""


class ModelError(ArchcolorError):
    """The colorization model cannot be used."""


class ModelNotFoundError(ModelError):
    """No installed model has that name; run `archcolor models` to list them."""


class WeightsChecksumError(ModelError):
    """The weights file does not match the sha256 in its model card; reinstall the model."""


class InferenceError(ArchcolorError):
    """The colorization network could not produce colour for this page."""


class DeviceError(InferenceError):
    """The requested compute device is unavailable or out of memory."""


class OutputError(ArchcolorError):
    """A derivative or export file could not be written."""


class ProtectedPathError(OutputError):
    """The output would land on a catalogued master or inside an ingested folder; write it
    elsewhere (masters are never overwritten)."""


class ContentCredentialsError(ArchcolorError):
    """C2PA Content Credentials could not be made or read."""


class C2paUnavailableError(ContentCredentialsError):
    """Content Credentials need the c2pa-python library: pip install 'archive-colorizer[c2pa]'."""


class SigningCredentialsError(ContentCredentialsError):
    """The C2PA signing certificate chain or private key is missing or unusable; check
    --c2pa-cert / --c2pa-key (or ARCHCOLOR_C2PA_CERT / ARCHCOLOR_C2PA_KEY)."""


class C2paFormatError(ContentCredentialsError):
    """The C2PA library cannot sign or read this file format."""


class JobError(ArchcolorError):
    """A colorization job failed."""


class TransientJobError(JobError):
    """A job failed for a reason that may go away; it will be retried."""


class PermanentJobError(JobError):
    """A job failed for a reason that retrying cannot fix; it was dead-lettered."""
