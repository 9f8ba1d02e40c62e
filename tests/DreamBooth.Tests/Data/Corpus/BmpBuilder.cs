using System.Buffers.Binary;

namespace DreamBooth.Tests.Data.Corpus;

/// <summary>24-bit bottom-up BMP writer (Skia has no BMP encoder).</summary>
internal static class BmpBuilder
{
    public static byte[] Build(int width, int height, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        var stride = (width * 3 + 3) & ~3;
        var data = new byte[54 + stride * height];
        data[0] = (byte)'B'; data[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(2), data.Length);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(28), 24);
        BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(34), stride * height);
        for (var y = 0; y < height; y++)
        {
            var row = 54 + (height - 1 - y) * stride;
            for (var x = 0; x < width; x++)
            {
                var (r, g, b) = pixel(x, y);
                data[row + x * 3] = b; data[row + x * 3 + 1] = g; data[row + x * 3 + 2] = r;
            }
        }
        return data;
    }
}
