using System.Buffers.Binary;

namespace DreamBooth.Data;

/// <summary>Walks the chunk headers of a PNG file (no decompression): enough to find eXIf and to tell truncated from corrupt.</summary>
internal static class PngChunks
{
    /// <summary>The data of the first chunk of <paramref name="type"/>, or empty when there is none or the file ends first.</summary>
    public static ReadOnlySpan<byte> Find(ReadOnlySpan<byte> png, ReadOnlySpan<byte> type)
    {
        long offset = 8;
        while (offset + 8 <= png.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(png[(int)offset..]);
            var chunkType = png.Slice((int)offset + 4, 4);
            var dataStart = offset + 8;
            if (dataStart + length > png.Length) break;
            if (chunkType.SequenceEqual(type)) return png.Slice((int)dataStart, (int)length);
            if (chunkType.SequenceEqual("IEND"u8)) break;
            offset = dataStart + length + 4;
        }
        return [];
    }
}
