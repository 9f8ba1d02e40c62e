using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>A tensor's entry in a .safetensors header.</summary>
/// <param name="Name">Tensor name (state-dict key).</param>
/// <param name="DType">Safetensors dtype string (F32, F16, BF16, I64, ...).</param>
/// <param name="Shape">Shape; empty for a 0-d tensor.</param>
/// <param name="Begin">Start offset relative to the data section of the file that holds the tensor.</param>
/// <param name="End">End offset (exclusive) relative to that data section.</param>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a 0-d tensor).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The TorchSharp scalar type this entry is stored as.</summary>
    public ScalarType ScalarType => Safetensors.ToScalarType(DType);
}

/// <summary>Limits that keep a hostile file from exhausting memory before anything is allocated.</summary>
/// <param name="MaxHeaderBytes">Largest JSON header accepted (the reference implementation's limit is 100 MB).</param>
/// <param name="MaxTensors">Most tensors one file may declare.</param>
/// <param name="MaxRank">Most dimensions one tensor may have.</param>
public sealed record SafetensorsLimits(long MaxHeaderBytes = 100_000_000, int MaxTensors = 1_000_000, int MaxRank = 16)
{
    /// <summary>The limits used when none are given.</summary>
    public static SafetensorsLimits Default { get; } = new();
}

/// <summary>
/// Reader and writer for the safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then
/// raw little-endian tensor data. Written here rather than taken from TorchSharp.PyBridge because loading must validate
/// every header field with errors that name the file and the tensor, must read each tensor straight into its native
/// buffer (never the whole file into managed memory), and must execute nothing.
/// </summary>
public static class Safetensors
{
    private static readonly Dictionary<string, (ScalarType Type, int Size)> DTypes = new()
    {
        ["F64"] = (ScalarType.Float64, 8),
        ["F32"] = (ScalarType.Float32, 4),
        ["F16"] = (ScalarType.Float16, 2),
        ["BF16"] = (ScalarType.BFloat16, 2),
        ["I64"] = (ScalarType.Int64, 8),
        ["I32"] = (ScalarType.Int32, 4),
        ["I16"] = (ScalarType.Int16, 2),
        ["I8"] = (ScalarType.Int8, 1),
        ["U8"] = (ScalarType.Byte, 1),
        ["BOOL"] = (ScalarType.Bool, 1),
    };

    // Valid in the format but with no TorchSharp 0.107 scalar type; named in errors so that they are not called "unknown".
    private static readonly HashSet<string> UnsupportedDTypes = new(StringComparer.Ordinal)
    {
        "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64",
    };

    /// <summary>The dtype strings this implementation reads and writes.</summary>
    public static IReadOnlyCollection<string> SupportedDTypes => DTypes.Keys;

    /// <summary>Bytes per element of a safetensors dtype string, or null when unknown or unsupported.</summary>
    public static int? ElementSize(string dtype) => DTypes.TryGetValue(dtype, out var d) ? d.Size : null;

    /// <summary>Maps a safetensors dtype string to a TorchSharp scalar type.</summary>
    public static ScalarType ToScalarType(string dtype) =>
        DTypes.TryGetValue(dtype, out var d) ? d.Type : throw new ArgumentException($"unknown safetensors dtype '{dtype}'");

    /// <summary>Maps a TorchSharp scalar type to its safetensors dtype string.</summary>
    public static string ToDTypeString(ScalarType type)
    {
        foreach (var (k, v) in DTypes)
            if (v.Type == type) return k;
        throw new ArgumentException($"scalar type {type} cannot be stored in safetensors");
    }

    internal static string DescribeUnknownDType(string dtype) => UnsupportedDTypes.Contains(dtype)
        ? $"dtype '{dtype}' is not supported (supported: {string.Join(", ", DTypes.Keys)})"
        : $"unknown dtype '{dtype}'";

    /// <summary>Opens a file and reads and validates its header; tensor data is read on demand.</summary>
    public static SafetensorsReader Open(string path, SafetensorsLimits? limits = null) => SafetensorsReader.OpenFile(path, limits ?? SafetensorsLimits.Default);

    /// <summary>
    /// Opens a sharded checkpoint through its index (<c>*.safetensors.index.json</c>, whose <c>weight_map</c> maps each
    /// tensor name to a shard file in the same folder) as one reader over all shards. Every shard must exist and hold
    /// exactly the tensors the index maps to it; no tensor may be in two shards.
    /// </summary>
    public static SafetensorsReader OpenSharded(string indexPath, SafetensorsLimits? limits = null) =>
        SafetensorsReader.OpenShards(indexPath, SafetensorsIndex.Read(indexPath), limits ?? SafetensorsLimits.Default);

    /// <summary>Loads every tensor of a file (optionally converting floating-point tensors to <paramref name="floatType"/>).</summary>
    public static Dictionary<string, Tensor> LoadAll(string path, ScalarType? floatType = null)
    {
        using var reader = Open(path);
        return reader.LoadAll(floatType);
    }

    /// <summary>
    /// Writes tensors to <paramref name="path"/> atomically: the file is written beside the target under a temporary
    /// name, flushed to disk and renamed over it, so a failure at any point leaves either the old file or the new one.
    /// The bytes depend only on the tensors and metadata: tensors sorted by name (ordinal), <c>__metadata__</c> first
    /// with sorted keys, compact JSON padded with spaces to a multiple of 8, data contiguous in name order.
    /// Tensor data is streamed one tensor at a time (a non-contiguous or non-CPU tensor is copied one at a time).
    /// </summary>
    /// <exception cref="ArgumentException">A duplicate, empty or reserved name, or a dtype safetensors cannot hold.</exception>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>(StringComparer.Ordinal);
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new SortedDictionary<string, string>(metadata.ToDictionary(), StringComparer.Ordinal);
        long offset = 0;
        foreach (var (name, t) in list)
        {
            if (name.Length == 0) throw new ArgumentException("a tensor has an empty name");
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is not a valid tensor name");
            if (header.ContainsKey(name)) throw new ArgumentException($"duplicate tensor name '{name}'");
            var dtype = ToDTypeString(t.dtype);
            long bytes = t.numel() * ElementSize(dtype)!.Value;
            header[name] = new HeaderEntry(dtype, t.shape, [offset, offset + bytes]);
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header, HeaderJson);
        int padded = (json.Length + 7) / 8 * 8;

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var (_, t) in list)
            {
                using var scope = NewDisposeScope();
                var c = t.device_type == DeviceType.CPU ? t.contiguous() : t.cpu().contiguous();
                WriteNative(stream, c);
            }
        });
    }

    private sealed record HeaderEntry(
        [property: JsonPropertyName("dtype")] string DType,
        [property: JsonPropertyName("shape")] long[] Shape,
        [property: JsonPropertyName("data_offsets")] long[] DataOffsets);

    // Names are written as raw UTF-8 like the reference writer (the default encoder would escape '+', '<', non-ASCII).
    private static readonly JsonSerializerOptions HeaderJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Tensor data moves through Tensor.bytes, a span over the native buffer (no copy), taken over 1-D slices of at most
    // ChunkBytes so that tensors over 2 GiB work too. The format is little-endian, as is every platform TorchSharp ships for.
    internal const long ChunkBytes = 1L << 30;

    internal static void WriteNative(Stream stream, Tensor contiguous, long chunkBytes = ChunkBytes) =>
        ForEachChunk(contiguous, chunkBytes, span => stream.Write(span));

    internal static void ReadNative(Stream stream, Tensor contiguous, long chunkBytes = ChunkBytes) =>
        ForEachChunk(contiguous, chunkBytes, span => stream.ReadExactly(span));

    private delegate void SpanAction(Span<byte> span);

    private static void ForEachChunk(Tensor t, long chunkBytes, SpanAction action)
    {
        long n = t.numel();
        if (n == 0) return;
        long perChunk = Math.Max(1, chunkBytes / t.ElementSize);
        using var flat = t.view(-1);
        for (long start = 0; start < n; start += perChunk)
        {
            using var part = flat.narrow(0, start, Math.Min(perChunk, n - start));
            action(part.bytes);
        }
    }
}
