namespace DreamBooth.Tests.Data.Corpus;

/// <summary>
/// Writes GIF89a files (Skia has no GIF encoder): a 4-colour global palette, optional NETSCAPE loop, and frames with a
/// graphic control extension. The LZW stream is "uncompressed" (a clear code before every two pixels keeps the code
/// size at 3 bits), which every decoder reads.
/// </summary>
internal static class GifBuilder
{
    /// <summary>One frame: its rectangle on the canvas, palette indices (row-major), and an optional transparent index.</summary>
    public sealed record Frame(int Left, int Top, int Width, int Height, byte[] Indices, int? TransparentIndex = null, int DelayCs = 10);

    public static byte[] Build(int width, int height, (byte R, byte G, byte B)[] palette, params Frame[] frames)
    {
        if (palette.Length != 4) throw new ArgumentException("4 colours expected");
        using var ms = new MemoryStream();
        ms.Write("GIF89a"u8);
        WriteU16(ms, width); WriteU16(ms, height);
        ms.WriteByte(0xF1); // global colour table, 8-bit colour resolution, 2^(1+1) = 4 entries
        ms.WriteByte(0); ms.WriteByte(0);
        foreach (var (r, g, b) in palette) { ms.WriteByte(r); ms.WriteByte(g); ms.WriteByte(b); }
        if (frames.Length > 1)
        {
            ms.Write([0x21, 0xFF, 11]); ms.Write("NETSCAPE2.0"u8); ms.Write([3, 1, 0, 0, 0]);
        }
        foreach (var f in frames)
        {
            ms.Write([0x21, 0xF9, 4, (byte)(f.TransparentIndex is null ? 0x04 : 0x05)]); // dispose: keep; transparency flag
            WriteU16(ms, f.DelayCs);
            ms.WriteByte((byte)(f.TransparentIndex ?? 0)); ms.WriteByte(0);
            ms.WriteByte(0x2C);
            WriteU16(ms, f.Left); WriteU16(ms, f.Top); WriteU16(ms, f.Width); WriteU16(ms, f.Height);
            ms.WriteByte(0);   // no local colour table, not interlaced
            ms.WriteByte(2);   // LZW minimum code size
            var data = Lzw(f.Indices);
            for (var i = 0; i < data.Length; i += 255)
            {
                var n = Math.Min(255, data.Length - i);
                ms.WriteByte((byte)n); ms.Write(data, i, n);
            }
            ms.WriteByte(0);
        }
        ms.WriteByte(0x3B);
        return ms.ToArray();
    }

    private static byte[] Lzw(byte[] indices)
    {
        const int clear = 4, end = 5;
        var codes = new List<int>();
        for (var i = 0; i < indices.Length; i++)
        {
            if (i % 2 == 0) codes.Add(clear);
            codes.Add(indices[i]);
        }
        codes.Add(end);
        var bytes = new List<byte>();
        int acc = 0, n = 0;
        foreach (var c in codes)
        {
            acc |= c << n; n += 3;
            while (n >= 8) { bytes.Add((byte)acc); acc >>= 8; n -= 8; }
        }
        if (n > 0) bytes.Add((byte)acc);
        return bytes.ToArray();
    }

    private static void WriteU16(Stream s, int v) { s.WriteByte((byte)v); s.WriteByte((byte)(v >> 8)); }
}
