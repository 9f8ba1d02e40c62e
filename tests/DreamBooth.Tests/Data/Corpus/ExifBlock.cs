using System.Buffers.Binary;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>Minimal EXIF data holding only the Orientation tag (0x0112), and its insertion into a JPEG as APP1.</summary>
internal static class ExifBlock
{
    /// <summary>TIFF structure: "II", 42, IFD0 at offset 8 with one SHORT entry (tag 0x0112), no next IFD.</summary>
    public static byte[] Tiff(int orientation)
    {
        var t = new byte[8 + 2 + 12 + 4];
        t[0] = (byte)'I'; t[1] = (byte)'I';
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(2), 42);
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(4), 8);
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(8), 1);        // one entry
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(10), 0x0112);  // Orientation
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(12), 3);       // SHORT
        BinaryPrimitives.WriteUInt32LittleEndian(t.AsSpan(14), 1);       // count
        BinaryPrimitives.WriteUInt16LittleEndian(t.AsSpan(18), (ushort)orientation);
        return t;                                                        // next-IFD offset: 0
    }

    /// <summary>The JPEG with an APP1 "Exif" segment carrying <paramref name="orientation"/> right after SOI.</summary>
    public static byte[] InsertIntoJpeg(byte[] jpeg, int orientation)
    {
        if (jpeg[0] != 0xFF || jpeg[1] != 0xD8) throw new ArgumentException("not a JPEG");
        var payload = "Exif\0\0"u8.ToArray().Concat(Tiff(orientation)).ToArray();
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF; segment[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(segment, 4);
        return jpeg[..2].Concat(segment).Concat(jpeg[2..]).ToArray();
    }
}
