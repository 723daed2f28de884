# The seed's snippet after "Kafka Consumer", lines 543-581, unchanged.
from kafka import KafkaConsumer

class KafkaMessageConsumer:
    def __init__(self, topics, bootstrap_servers=['localhost:9092'], group_id='my-group'):
        self.consumer = KafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            value_deserializer=lambda m: json.loads(m.decode('utf-8')),
            auto_offset_reset='earliest',
            enable_auto_commit=True,
            auto_commit_interval_ms=5000
        )
    
    def consume(self, callback):
        """Consume messages from Kafka."""
        for message in self.consumer:
            try:
                callback(message.value, message)
            except Exception as e:
                print(f"Error processing: {e}")
    
    def consume_batch(self, batch_size=100, timeout_ms=5000):
        """Consume messages in batches."""
        batch = []
        
        while True:
            messages = self.consumer.poll(timeout_ms=timeout_ms, max_records=batch_size)
            
            for topic_partition, records in messages.items():
                for record in records:
                    batch.append(record.value)
            
            if batch:
                yield batch
                batch = []
    
    def close(self):
        self.consumer.close()
