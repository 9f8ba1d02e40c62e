using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>
/// Writes PNG files chunk by chunk, so the tests can make what Skia's encoder never writes: 16-bit samples, grey,
/// grey+alpha, palettes with tRNS, eXIf, lying headers. Every scanline uses filter 0 (None); zlib via ZLibStream.
/// </summary>
internal static class PngBuilder
{
    public const byte Grey = 0, Rgb = 2, Palette = 3, GreyAlpha = 4, Rgba = 6;

    /// <summary>
    /// A complete PNG. <paramref name="samples"/> holds the unfiltered scanlines packed as the PNG spec says (bit depth,
    /// channels; 16-bit samples big-endian), without filter bytes. <paramref name="beforeIdat"/> chunks (PLTE, tRNS, eXIf)
    /// go between IHDR and IDAT.
    /// </summary>
    public static byte[] Build(int width, int height, byte bitDepth, byte colorType, byte[] samples,
        params (string Type, byte[] Data)[] beforeIdat)
    {
        var rowBytes = (width * Channels(colorType) * bitDepth + 7) / 8;
        if (samples.Length != rowBytes * height) throw new ArgumentException($"expected {rowBytes * height} sample bytes, got {samples.Length}");
        var raw = new byte[(rowBytes + 1) * height];
        for (var y = 0; y < height; y++) Array.Copy(samples, y * rowBytes, raw, y * (rowBytes + 1) + 1, rowBytes);
        return Assemble(Ihdr(width, height, bitDepth, colorType), Compress(raw), beforeIdat);
    }

    /// <summary>PNG signature + IHDR + extra chunks + IDAT(<paramref name="idat"/>) + IEND.</summary>
    public static byte[] Assemble(byte[] ihdr, byte[] idat, params (string Type, byte[] Data)[] beforeIdat)
    {
        using var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(ms, "IHDR", ihdr);
        foreach (var (type, data) in beforeIdat) Chunk(ms, type, data);
        Chunk(ms, "IDAT", idat);
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    public static byte[] Ihdr(int width, int height, byte bitDepth, byte colorType)
    {
        var d = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(d, width);
        BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(4), height);
        d[8] = bitDepth; d[9] = colorType; // compression, filter, interlace: 0
        return d;
    }

    public static byte[] Compress(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        return ms.ToArray();
    }

    /// <summary>16-bit big-endian samples from values.</summary>
    public static byte[] Samples16(IEnumerable<ushort> values) =>
        values.SelectMany(v => new[] { (byte)(v >> 8), (byte)v }).ToArray();

    /// <summary>An eXIf chunk body (a little-endian TIFF header with one IFD entry: Orientation).</summary>
    public static byte[] ExifOrientation(int orientation) => ExifBlock.Tiff(orientation);

    private static int Channels(byte colorType) => colorType switch
    {
        Grey or Palette => 1,
        GreyAlpha => 2,
        Rgb => 3,
        Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(colorType)),
    };

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeAndData = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(len, Crc32.Compute(typeAndData));
        s.Write(len);
    }
}
