using System.Buffers.Binary;
using System.Text;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>
/// Builds an animated WebP (RIFF: VP8X with the animation flag, ANIM, one ANMF per frame) from still WebP files that Skia
/// encoded; Skia has no animated-WebP encoder. Each frame's VP8/VP8L chunk is lifted out of its still file.
/// </summary>
internal static class WebpBuilder
{
    public static byte[] Animated(int width, int height, params byte[][] stillFrames)
    {
        using var body = new MemoryStream();
        body.Write("WEBP"u8);
        var vp8x = new byte[10];
        vp8x[0] = 0x02; // animation
        WriteU24(vp8x, 4, width - 1); WriteU24(vp8x, 7, height - 1);
        Chunk(body, "VP8X", vp8x);
        Chunk(body, "ANIM", [255, 255, 255, 255, 0, 0]); // white background, loop forever
        foreach (var still in stillFrames)
        {
            var bitstream = BitstreamChunk(still);
            var anmf = new byte[16 + bitstream.Length];
            WriteU24(anmf, 0, 0); WriteU24(anmf, 3, 0);
            WriteU24(anmf, 6, width - 1); WriteU24(anmf, 9, height - 1);
            WriteU24(anmf, 12, 100);  // duration ms
            anmf[15] = 0x02;          // do not blend, no disposal
            bitstream.CopyTo(anmf, 16);
            Chunk(body, "ANMF", anmf);
        }
        using var file = new MemoryStream();
        file.Write("RIFF"u8);
        var size = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, (uint)body.Length);
        file.Write(size);
        body.Position = 0;
        body.CopyTo(file);
        return file.ToArray();
    }

    /// <summary>An extended still WebP (VP8X with the EXIF flag) carrying <paramref name="exifTiff"/> in an EXIF chunk.</summary>
    public static byte[] StillWithExif(int width, int height, byte[] still, byte[] exifTiff)
    {
        using var body = new MemoryStream();
        body.Write("WEBP"u8);
        var vp8x = new byte[10];
        vp8x[0] = 0x08; // EXIF metadata present
        WriteU24(vp8x, 4, width - 1); WriteU24(vp8x, 7, height - 1);
        Chunk(body, "VP8X", vp8x);
        body.Write(BitstreamChunk(still));
        Chunk(body, "EXIF", exifTiff);
        using var file = new MemoryStream();
        file.Write("RIFF"u8);
        var size = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, (uint)body.Length);
        file.Write(size);
        body.Position = 0;
        body.CopyTo(file);
        return file.ToArray();
    }

    /// <summary>The "VP8 " or "VP8L" chunk (header, payload, padding) of a simple still WebP.</summary>
    private static byte[] BitstreamChunk(byte[] still)
    {
        var fourcc = Encoding.ASCII.GetString(still, 12, 4);
        if (fourcc is not ("VP8 " or "VP8L")) throw new ArgumentException($"simple WebP expected, found {fourcc}");
        var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(still.AsSpan(16));
        return still[12..(20 + length + (length & 1))];
    }

    private static void Chunk(Stream s, string fourcc, byte[] data)
    {
        s.Write(Encoding.ASCII.GetBytes(fourcc));
        var size = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(size, (uint)data.Length);
        s.Write(size);
        s.Write(data);
        if ((data.Length & 1) == 1) s.WriteByte(0);
    }

    private static void WriteU24(byte[] a, int offset, int v)
    {
        a[offset] = (byte)v; a[offset + 1] = (byte)(v >> 8); a[offset + 2] = (byte)(v >> 16);
    }
}
