using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace DreamBooth.Data;

/// <summary>
/// Reads and writes PNG text chunks (tEXt, zTXt, iTXt), where generators store their parameters (A1111's
/// <c>parameters</c> key). Hand-written because SkiaSharp's encoder cannot write text chunks and its decoder does not
/// expose them.
/// </summary>
public static class PngText
{
    private static readonly byte[] Signature = { 137, 80, 78, 71, 13, 10, 26, 10 };
    private static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>All text entries of the PNG file at <paramref name="path"/>, in file order.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (IOException e) { throw new DreamBoothException($"{path}: cannot read ({e.Message})"); }
        return Read(bytes, path);
    }

    /// <summary>True when <paramref name="bytes"/> start with the PNG signature (whatever the file's name says).</summary>
    public static bool IsPng(ReadOnlySpan<byte> bytes) => bytes.Length >= 8 && bytes[..8].SequenceEqual(Signature);

    /// <summary>All text entries of a PNG byte stream, in file order. Unknown chunks are skipped.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Read(ReadOnlySpan<byte> png, string source = "PNG data")
    {
        var result = new List<KeyValuePair<string, string>>();
        foreach (var (type, offset, length) in Chunks(png, source))
        {
            if (type is not ("tEXt" or "zTXt" or "iTXt")) continue;
            var data = png.Slice(offset + 8, length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.Slice(offset + 8 + length, 4));
            if (crc != Crc(png.Slice(offset + 4, 4 + length)))
                throw new DreamBoothException($"{source}: {type} chunk at byte {offset} has a wrong CRC (file corrupt)");
            int nul = data.IndexOf((byte)0);
            if (nul <= 0) throw new DreamBoothException($"{source}: {type} chunk at byte {offset} has no keyword");
            string key = Latin1.GetString(data[..nul]);
            var rest = data[(nul + 1)..];
            string value = type switch
            {
                "tEXt" => Latin1.GetString(rest),
                "zTXt" => Latin1.GetString(Inflate(rest[1..], source)),
                _ => ReadInternational(rest, source),
            };
            result.Add(new(key, value));
        }
        return result;
    }

    /// <summary>The value of the first entry named <paramref name="key"/>, or null.</summary>
    public static string? Get(IReadOnlyList<KeyValuePair<string, string>> entries, string key) =>
        entries.FirstOrDefault(e => e.Key == key) is { Key: not null } e ? e.Value : null;

    /// <summary>
    /// A copy of <paramref name="png"/> with the entries inserted before the first IDAT chunk: tEXt when the value is
    /// Latin-1 without NUL, iTXt (UTF-8) otherwise. Keywords: 1–79 Latin-1 characters, no NUL, no surrounding spaces.
    /// </summary>
    public static byte[] Insert(ReadOnlySpan<byte> png, IEnumerable<KeyValuePair<string, string>> entries)
    {
        int insertAt = -1;
        foreach (var (type, offset, _) in Chunks(png, "PNG data"))
            if (type == "IDAT") { insertAt = offset; break; }
        if (insertAt < 0) throw new DreamBoothException("PNG data: no IDAT chunk");
        using var ms = new MemoryStream(png.Length + 256);
        ms.Write(png[..insertAt]);
        foreach (var (key, value) in entries) WriteChunk(ms, key, value);
        ms.Write(png[insertAt..]);
        return ms.ToArray();
    }

    private static void WriteChunk(Stream s, string key, string value)
    {
        if (key.Length is < 1 or > 79 || key.Any(c => c == 0 || c > 0xFF) || key != key.Trim())
            throw new DreamBoothException($"PNG text keyword '{key}' is invalid (1-79 Latin-1 characters, no NUL or surrounding spaces)");
        bool latin = value.All(c => c is > '\0' and <= '\u00FF');
        var body = new MemoryStream();
        body.Write(Latin1.GetBytes(key));
        body.WriteByte(0);
        if (latin) body.Write(Latin1.GetBytes(value));
        else
        {
            body.Write(new byte[] { 0, 0, 0, 0 }); // compression flag, method, empty language tag, empty translated keyword
            body.Write(Encoding.UTF8.GetBytes(value));
        }
        var data = body.ToArray();
        var typeAndData = new byte[4 + data.Length];
        Encoding.ASCII.GetBytes(latin ? "tEXt" : "iTXt", typeAndData);
        data.CopyTo(typeAndData, 4);
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(u32, (uint)data.Length);
        s.Write(u32);
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(u32, Crc(typeAndData));
        s.Write(u32);
    }

    private static string ReadInternational(ReadOnlySpan<byte> rest, string source)
    {
        if (rest.Length < 2) throw new DreamBoothException($"{source}: truncated iTXt chunk");
        bool compressed = rest[0] != 0;
        rest = rest[2..];
        int lang = rest.IndexOf((byte)0);
        if (lang < 0) throw new DreamBoothException($"{source}: truncated iTXt chunk");
        rest = rest[(lang + 1)..];
        int translated = rest.IndexOf((byte)0);
        if (translated < 0) throw new DreamBoothException($"{source}: truncated iTXt chunk");
        rest = rest[(translated + 1)..];
        return Encoding.UTF8.GetString(compressed ? Inflate(rest, source) : rest);
    }

    private static byte[] Inflate(ReadOnlySpan<byte> zlib, string source)
    {
        try
        {
            using var input = new MemoryStream(zlib.ToArray());
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            using var output = new MemoryStream();
            z.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException) { throw new DreamBoothException($"{source}: compressed text chunk is corrupt"); }
    }

    /// <summary>(type, offset of the length field, data length) of every chunk, validating the framing.</summary>
    private static List<(string Type, int Offset, int Length)> Chunks(ReadOnlySpan<byte> png, string source)
    {
        if (png.Length == 0) throw new DreamBoothException($"{source}: empty file (0 bytes)");
        if (!IsPng(png)) throw new DreamBoothException($"{source}: not a PNG file");
        var chunks = new List<(string, int, int)>();
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png.Slice(pos, 4));
            if (length > int.MaxValue || pos + 12 + (long)length > png.Length)
                throw new DreamBoothException($"{source}: truncated PNG chunk at byte {pos}");
            string type = Encoding.ASCII.GetString(png.Slice(pos + 4, 4));
            chunks.Add((type, pos, (int)length));
            pos += 12 + (int)length;
            if (type == "IEND") return chunks;
        }
        throw new DreamBoothException($"{source}: truncated PNG (no IEND chunk)");
    }

    private static uint Crc(ReadOnlySpan<byte> data) => Crc32.HashToUInt32(data);
}
