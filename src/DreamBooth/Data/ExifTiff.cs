using System.Buffers.Binary;

namespace DreamBooth.Data;

/// <summary>
/// Reads the Orientation tag (0x0112) from raw EXIF (TIFF) data. Skia reads it from JPEG and WebP but not from a PNG's
/// eXIf chunk, which PIL's <c>exif_transpose</c> honours; this small bounds-checked reader fills that gap.
/// Garbage in gives null, never an exception.
/// </summary>
internal static class ExifTiff
{
    /// <summary>The orientation 1–8 stored in IFD0 of <paramref name="tiff"/> (optionally after an "Exif\0\0" prefix), or null.</summary>
    public static int? ReadOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.StartsWith("Exif\0\0"u8)) tiff = tiff[6..];
        if (tiff.Length < 8) return null;
        bool little;
        if (tiff.StartsWith("II"u8)) little = true;
        else if (tiff.StartsWith("MM"u8)) little = false;
        else return null;
        ushort U16(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt16LittleEndian(s) : BinaryPrimitives.ReadUInt16BigEndian(s);
        uint U32(ReadOnlySpan<byte> s) => little ? BinaryPrimitives.ReadUInt32LittleEndian(s) : BinaryPrimitives.ReadUInt32BigEndian(s);

        if (U16(tiff[2..]) != 42) return null;
        var ifd = U32(tiff[4..]);
        if (ifd > (uint)tiff.Length - 2) return null;
        int count = U16(tiff[(int)ifd..]);
        for (var i = 0; i < count; i++)
        {
            var entry = (long)ifd + 2 + 12L * i;
            if (entry + 12 > tiff.Length) return null;
            var e = tiff.Slice((int)entry, 12);
            if (U16(e) != 0x0112) continue;
            if (U16(e[2..]) != 3 || U32(e[4..]) < 1) return null; // SHORT, at least one value
            int value = U16(e[8..]);
            return value is >= 1 and <= 8 ? value : null;
        }
        return null;
    }
}
