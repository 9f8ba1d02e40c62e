using System.Buffers.Binary;

namespace DreamBooth.Data;

/// <summary>
/// Whether a file reaches its format's end marker. Skia answers "incomplete input" both for cut files and for some
/// corrupt ones (a bad PNG header checksum, say); this tells the user which of the two it is.
/// </summary>
internal static class ImageCompleteness
{
    /// <summary>True when the file ends the way a whole file of <paramref name="format"/> ends.</summary>
    public static bool ReachesEnd(ImageFormat format, ReadOnlySpan<byte> bytes) => format switch
    {
        // IEND chunk: length 0, "IEND", CRC AE 42 60 82 (readers tolerate trailing bytes, so search the tail).
        ImageFormat.Png => Tail(bytes, 64).IndexOf(IendChunk) >= 0,
        // EOI marker; some writers append bytes after it, so look in the tail rather than at the very end.
        ImageFormat.Jpeg => Tail(bytes, 1024).IndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]) >= 0,
        ImageFormat.Gif => bytes.Length > 0 && bytes[^1] == 0x3B,
        ImageFormat.WebP => bytes.Length >= 8 && 8L + BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]) <= bytes.Length,
        ImageFormat.Bmp => bytes.Length >= 6 && BinaryPrimitives.ReadUInt32LittleEndian(bytes[2..]) <= (uint)bytes.Length,
        _ => true,
    };

    private static ReadOnlySpan<byte> IendChunk => [(byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xAE, 0x42, 0x60, 0x82];

    private static ReadOnlySpan<byte> Tail(ReadOnlySpan<byte> bytes, int n) => bytes.Length <= n ? bytes : bytes[^n..];
}
