using System.Buffers.Binary;
using System.Text;

namespace DreamBooth.Tests.IO;

/// <summary>A fresh temporary folder, deleted on dispose, with helpers to write test files into it.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("dreambooth-io-").FullName;

    /// <summary>Path of a file or folder inside (parent folders are created).</summary>
    public string File(params string[] parts)
    {
        var p = System.IO.Path.Combine([Path, .. parts]);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(p)!);
        return p;
    }

    /// <summary>Writes UTF-8 text (no BOM) and returns the path.</summary>
    public string Text(string relative, string text)
    {
        var p = File(relative.Split('/'));
        System.IO.File.WriteAllText(p, text, new UTF8Encoding(false));
        return p;
    }

    /// <summary>
    /// Writes a raw safetensors file: an 8-byte little-endian length (<paramref name="headerLength"/>, default the
    /// header's byte count), the header bytes, then <paramref name="data"/>.
    /// </summary>
    public string Raw(string relative, string header, byte[]? data = null, ulong? headerLength = null) =>
        RawBytes(relative, Encoding.UTF8.GetBytes(header), data, headerLength);

    public string RawBytes(string relative, byte[] header, byte[]? data = null, ulong? headerLength = null)
    {
        var p = File(relative.Split('/'));
        using var fs = System.IO.File.Create(p);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, headerLength ?? (ulong)header.Length);
        fs.Write(len);
        fs.Write(header);
        if (data is not null) fs.Write(data);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
