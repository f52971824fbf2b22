"""Reading the text files a user writes (filelists, `.lab` labels): UTF-8, with a clear error otherwise.

A UTF-8 byte-order mark (which some Windows editors put first) is dropped: the
text is still UTF-8. A UTF-16 or UTF-32 file (recognised by its byte-order
mark) or any other non-UTF-8 byte stops with a message naming the file and
how to fix it, instead of a decoding traceback.
"""
import codecs
import pathlib

from svd.util.errors import InputError

_OTHER_ENCODINGS = (  # longest mark first: UTF-32-LE's mark begins with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_text(path):
    """The text of `path` as a str, decoded as UTF-8 (a leading UTF-8 byte-order mark removed)."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError(f"{path}: this file cannot be read (permission denied); give your user read access "
                         f"(chmod a+r {path}).") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a text file; name the file.") from None
    return decode(data, path)


def decode(data, path):
    """`data` (bytes read from `path`, which names it in messages) as a str; see `read_text`."""
    for mark, encoding in _OTHER_ENCODINGS:
        if data.startswith(mark):
            raise InputError(f"{path}: starts with a {encoding} byte-order mark, so it is {encoding} text; "
                             "save it as UTF-8 (plain text).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); "
                         "save it as UTF-8 (plain text).") from None
